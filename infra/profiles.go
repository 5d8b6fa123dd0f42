package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// profilesDir is the prefix of the column-mapping profiles in the files
// bucket (s3store.ProfilePrefix), outside the uploads' lifecycle rule.
const profilesDir = "profiles/"

// allowProfiles lets the validator (which serves /profiles) read, write,
// delete and list the profiles, and nothing else of the prefix's bucket.
func allowProfiles(stack awscdk.Stack, validator awslambda.Function, bucket awss3.Bucket) {
	validator.Role().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
		Resources: &[]*string{jsii.String(*bucket.BucketArn() + "/" + profilesDir + "*")},
	}))
	validator.Role().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		// GET /profiles lists the prefix; a missing profile answers 404.
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  &[]*string{bucket.BucketArn()},
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": profilesDir + "*"}},
	}))
	nag(validator.Role(), "AwsSolutions-IAM5", "Profiles are stored under profiles/<name>.yaml, a name known only at "+
		"run time, so object access is granted on the profiles/ prefix.",
		"Resource::<"+logicalID(stack, bucket)+".Arn>/profiles/*")
}
