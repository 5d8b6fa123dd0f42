package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// incomingDir is where the bytes of two-step uploads land (s3store's
// IncomingPrefix): incoming/<sha256>, until the run's Validate claims them.
const incomingDir = "incoming/"

// EnvPresignRoleARN names the role the validator assumes to presign upload
// URLs (internal/awsenv reads it).
const EnvPresignRoleARN = "TXPIPE_PRESIGN_ROLE_ARN"

// uploadTargets are the constructs the two-step upload flow ties together.
type uploadTargets struct {
	Env          string
	Bucket       awss3.Bucket
	Validator    awslambda.Function
	Notifier     awslambda.Function
	DLQ          awssqs.Queue
	StateMachine *string // ARN
	// Origins may PUT to the presigned URLs from a browser (CORS).
	Origins []string
}

// newUploadFlow adds what two-step uploads and the Standard workflow need
// around the bucket: S3 events on EventBridge, a rule starting a file's run
// when its bytes arrive under incoming/, CORS for browser uploads, a
// lifecycle that expires unclaimed uploads and aborts incomplete multipart
// uploads after a day, the presigning role (s3:PutObject on incoming/
// only), and a rule that sends executions which failed outside the
// workflow, timed out or were aborted to the notifier (marked FAILED,
// notified, dead-lettered).
func newUploadFlow(stack awscdk.Stack, t uploadTargets) {
	bucket := t.Bucket
	// EventBridge notifications, natively (no custom resource).
	bucket.Node().DefaultChild().(awss3.CfnBucket).AddPropertyOverride(
		jsii.String("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled"), true)
	origins := t.Origins
	if len(origins) == 0 {
		origins = []string{"http://localhost:8080"}
	}
	bucket.AddCorsRule(&awss3.CorsRule{
		AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT},
		AllowedOrigins: jsii.Strings(origins...),
		AllowedHeaders: jsii.Strings("content-type", "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm"),
		ExposedHeaders: jsii.Strings("etag"),
		MaxAge:         jsii.Number(600),
	})
	bucket.AddLifecycleRule(&awss3.LifecycleRule{
		Id:     jsii.String("unclaimed-uploads"),
		Prefix: jsii.String(incomingDir),
		// An upload URL lives an hour and Validate claims the bytes within
		// minutes: what is left a day later was never claimed.
		Expiration:                          awscdk.Duration_Days(jsii.Number(1)),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
	})
	incoming := jsii.String(*bucket.BucketArn() + "/" + incomingDir + "*")

	// The presigning role: the URLs it signs can do nothing but put an
	// object under incoming/.
	presign := awsiam.NewRole(stack, jsii.String("UploadPresignRole"), &awsiam.RoleProps{
		AssumedBy:          awsiam.NewArnPrincipal(t.Validator.Role().RoleArn()),
		Description:        jsii.String("txpipe: signs the S3 upload URLs of POST /uploads (" + t.Env + ")"),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(2)),
	})
	presign.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject"),
		Resources: &[]*string{incoming},
	}))
	nag(presign, "AwsSolutions-IAM5", "Upload URLs name objects incoming/<sha256 of the declared file>, unknown "+
		"until a client declares it: only s3:PutObject, only under incoming/.", "Resource::<"+logicalID(stack, bucket)+".Arn>/incoming/*")
	presign.GrantAssumeRole(t.Validator.Role())
	t.Validator.AddEnvironment(jsii.String(EnvPresignRoleARN), presign.RoleArn(), nil)

	// Validate reads the bytes and claims them (copy to uploads/, delete).
	t.Validator.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject", "s3:DeleteObject"),
		Resources: &[]*string{incoming},
	}))
	nag(t.Validator.Role(), "AwsSolutions-IAM5", "Validate reads and deletes the incoming/<sha256> object of the run's file: "+
		"its name is known only at run time.", "Resource::<"+logicalID(stack, bucket)+".Arn>/incoming/*")

	// The bytes' arrival starts the file's run (execution named by the file
	// id: one per file even if S3 sends the event twice).
	arrived := awsevents.NewRule(stack, jsii.String("UploadArrivedRule"), &awsevents.RuleProps{
		Description: jsii.String("txpipe: the bytes of a two-step upload arrived; start the file's run (" + t.Env + ")"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.s3"),
			DetailType: jsii.Strings("Object Created"),
			Detail: &map[string]any{
				"bucket": map[string]any{"name": []any{*bucket.BucketName()}},
				"object": map[string]any{"key": []any{map[string]any{"prefix": incomingDir}}},
			},
		},
	})
	arrived.AddTarget(awseventstargets.NewLambdaFunction(t.Validator, &awseventstargets.LambdaFunctionProps{
		RetryAttempts:   jsii.Number(8),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(2)),
		DeadLetterQueue: t.DLQ,
	}))

	// Executions that end outside the workflow's own failure path.
	ended := awsevents.NewRule(stack, jsii.String("ExecutionFailedRule"), &awsevents.RuleProps{
		Description: jsii.String("txpipe: a run failed outside its workflow, timed out or was aborted; mark it FAILED, notify, dead-letter (" + t.Env + ")"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.states"),
			DetailType: jsii.Strings("Step Functions Execution Status Change"),
			Detail: &map[string]any{
				"status":          []any{"FAILED", "TIMED_OUT", "ABORTED"},
				"stateMachineArn": []any{*t.StateMachine},
			},
		},
	})
	ended.AddTarget(awseventstargets.NewLambdaFunction(t.Notifier, &awseventstargets.LambdaFunctionProps{
		RetryAttempts:   jsii.Number(8),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(6)),
		DeadLetterQueue: t.DLQ,
	}))
	// The notifier dead-letters such runs itself (the workflow's SQS task
	// never ran for them).
	t.Notifier.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: &[]*string{t.DLQ.QueueArn()},
	}))
}
