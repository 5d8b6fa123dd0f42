package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// exportsDir is where the API's answers too large for a Lambda response go
// (s3store.ExportPrefix): exports/<random id>.csv, read through a download
// URL the validator signs with its own credentials.
const exportsDir = "exports/"

// allowExports lets the validator write exports (a multipart upload, whose
// parts and completion s3:PutObject covers, or its abort) and sign their
// GET URLs, on exports/ only, and expires them after a day (old versions
// too, in a versioned bucket; unfinished uploads are aborted).
func allowExports(stack awscdk.Stack, validator awslambda.Function, bucket awss3.Bucket) {
	bucket.AddLifecycleRule(&awss3.LifecycleRule{
		Id:     jsii.String("exports"),
		Prefix: jsii.String(exportsDir),
		// A download URL lives an hour at most: a day later nobody needs it.
		Expiration:                          awscdk.Duration_Days(jsii.Number(1)),
		NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(1)),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
	})
	validator.Role().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"),
		Resources: &[]*string{jsii.String(*bucket.BucketArn() + "/" + exportsDir + "*")},
	}))
	nag(validator.Role(), "AwsSolutions-IAM5", "Large answers are stored under exports/<random id>, a key made at "+
		"run time, so object access is granted on the exports/ prefix.",
		"Resource::<"+logicalID(stack, bucket)+".Arn>/exports/*")
}
