package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/txpipe/txpipe/internal/awsnames"
)

// consoleRoutes adds the paths of the web console's API (docs/contract.md,
// "The console's API") that the validator serves on AWS; like every route
// they need an API key. /keys is not among them: the keys on AWS are API
// Gateway's (see docs/deploy.md). status is the /status/{file_id} resource.
func consoleRoutes(root, status awsapigateway.IResource, method func(awsapigateway.IResource, string, map[string]bool)) {
	method(root.AddResource(jsii.String("whoami"), nil), "GET", nil)
	method(root.AddResource(jsii.String("files"), nil), "GET", map[string]bool{
		"method.request.querystring.status": false,
		"method.request.querystring.name":   false,
		"method.request.querystring.limit":  false,
		"method.request.querystring.cursor": false,
	})
	method(root.AddResource(jsii.String("volumes"), nil), "GET", map[string]bool{
		"method.request.querystring.from": true,
		"method.request.querystring.to":   true,
	})
	method(root.AddResource(jsii.String("transactions.csv"), nil), "GET", map[string]bool{
		"method.request.querystring.from":     true,
		"method.request.querystring.to":       true,
		"method.request.querystring.merchant": false,
		"method.request.querystring.currency": false,
	})
	method(status.AddResource(jsii.String("errors.csv"), nil), "GET", map[string]bool{
		"method.request.path.file_id": true,
	})
	dlq := root.AddResource(jsii.String("dlq"), nil)
	method(dlq, "GET", nil)
	method(dlq.AddResource(jsii.String("{file_id}"), nil).AddResource(jsii.String("redrive"), nil), "POST", map[string]bool{
		"method.request.path.file_id": true,
	})
}

// consoleDeadLetters lets the validator serve GET /dlq and POST
// /dlq/{file_id}/redrive: it is told the queue's URL and may receive,
// delete and release (change the visibility of) its messages; a redrive
// starts an execution, which it may already.
func consoleDeadLetters(validator awslambda.Function, dlq awssqs.Queue) {
	validator.AddEnvironment(jsii.String(awsnames.EnvDLQURL), dlq.QueueUrl(), nil)
	validator.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"),
		Resources: jsii.Strings(*dlq.QueueArn()),
	}))
}
