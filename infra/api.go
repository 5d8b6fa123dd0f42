package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// binaryMediaTypes are passed to the validator as they are (base64 in the
// Lambda event), so uploads keep their bytes.
var binaryMediaTypes = []string{"multipart/form-data", "text/csv"}

// accessLogFormat is one JSON object per request: who called (API key id,
// source IP, user agent), what (method, path), the answer (status, length,
// error type) and how long it took (API Gateway's and the validator's
// latency), with the request id and X-Ray trace id to find it elsewhere.
var accessLogFormat = `{"requestId":"$context.requestId","extendedRequestId":"$context.extendedRequestId",` +
	`"apiKeyId":"$context.identity.apiKeyId","sourceIp":"$context.identity.sourceIp",` +
	`"userAgent":"$context.identity.userAgent","caller":"$context.identity.caller",` +
	`"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath",` +
	`"protocol":"$context.protocol","status":"$context.status","responseLength":"$context.responseLength",` +
	`"responseLatency":"$context.responseLatency","integrationLatency":"$context.integrationLatency",` +
	`"errorType":"$context.error.responseType","xrayTraceId":"$context.xrayTraceId"}`

// newAPI defines the REST API in front of the validator: the three paths of
// the contract, each needing an API key, with a usage plan and one key. It
// returns the API and its access log group.
func newAPI(stack awscdk.Stack, validator awslambda.Function, env string, set settings, accountRole bool) (awsapigateway.RestApi, awslogs.LogGroup) {
	accessLogs := awslogs.NewLogGroup(stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/apigateway/txpipe-" + env),
		Retention:     set.retention,
		RemovalPolicy: set.removal,
	})
	props := &awsapigateway.RestApiProps{
		RestApiName:      jsii.String("txpipe-" + env),
		Description:      jsii.String("txpipe HTTP API (" + env + ")"),
		BinaryMediaTypes: jsii.Strings(binaryMediaTypes...),
		EndpointTypes:    &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		ApiKeySourceType: awsapigateway.ApiKeySourceType_HEADER,
		// API Gateway writes access logs only with the account's CloudWatch
		// role set (AWS::ApiGateway::Account, one per account and region).
		// One stack of the account sets it, when deployed with
		// -c apiGatewayAccount=true (docs/deploy.md); it is kept when that
		// stack goes, since other APIs of the account use it.
		CloudWatchRole: jsii.Bool(accountRole),
		DefaultMethodOptions: &awsapigateway.MethodOptions{
			ApiKeyRequired: jsii.Bool(true),
		},
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(stageName),
			TracingEnabled:       jsii.Bool(true),
			MetricsEnabled:       jsii.Bool(true),
			ThrottlingRateLimit:  jsii.Number(ratePerSec),
			ThrottlingBurstLimit: jsii.Number(burst),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat)),
		},
	}
	if accountRole {
		props.CloudWatchRoleRemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	api := awsapigateway.NewRestApi(stack, jsii.String("Api"), props)
	// The stack has its own ApiEndpoint output, without the trailing slash.
	api.Node().TryRemoveChild(jsii.String("Endpoint"))
	nag(api, "AwsSolutions-APIG6", "Every request is logged in the stage's access log (API key id, request id, "+
		"status, latency, source IP; kept "+set.retentionText()+", in the stack); execution logs would go to a log "+
		"group API Gateway creates outside the stack and keeps forever.")
	if accountRole {
		nag(api.Node().FindChild(jsii.String("CloudWatchRole")), "AwsSolutions-IAM4", "The account-wide role API Gateway "+
			"needs to write any log uses the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy, which AWS "+
			"maintains for exactly this service role.", "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
	}
	nag(api, "AwsSolutions-APIG3", "A WAF web ACL is a per-account decision with its own cost; the usage plan's "+
		"rate limit and daily quota bound each key's traffic.")

	validate := api.AddRequestValidator(jsii.String("RequestValidator"), &awsapigateway.RequestValidatorOptions{
		RequestValidatorName:      jsii.String("txpipe-params-" + env),
		ValidateRequestParameters: jsii.Bool(true),
		ValidateRequestBody:       jsii.Bool(true),
	})
	integration := awsapigateway.NewLambdaIntegration(validator, &awsapigateway.LambdaIntegrationOptions{
		Proxy:           jsii.Bool(true),
		AllowTestInvoke: jsii.Bool(false),
	})
	method := func(r awsapigateway.IResource, verb string, params map[string]bool) {
		p := map[string]*bool{}
		for k, v := range params {
			p[k] = jsii.Bool(v)
		}
		r.AddMethod(jsii.String(verb), integration, &awsapigateway.MethodOptions{
			ApiKeyRequired:    jsii.Bool(true),
			RequestValidator:  validate,
			RequestParameters: &p,
		})
	}
	method(api.Root().AddResource(jsii.String("upload"), nil), "POST", map[string]bool{
		"method.request.header.Content-Type": true,
	})
	status := api.Root().AddResource(jsii.String("status"), nil).AddResource(jsii.String("{file_id}"), nil)
	method(status, "GET", map[string]bool{
		"method.request.path.file_id": true,
	})
	consoleRoutes(api.Root(), status, method)
	method(api.Root().AddResource(jsii.String("transactions"), nil), "GET", map[string]bool{
		"method.request.querystring.from":   true,
		"method.request.querystring.to":     true,
		"method.request.querystring.limit":  false,
		"method.request.querystring.cursor": false,
	})
	profiles := api.Root().AddResource(jsii.String("profiles"), nil)
	method(profiles, "GET", nil)
	named := profiles.AddResource(jsii.String("{name}"), nil)
	for _, verb := range []string{"GET", "PUT", "DELETE"} {
		method(named, verb, map[string]bool{"method.request.path.name": true})
	}

	// After the methods: a suppression covers the children that exist.
	nag(api, "AwsSolutions-APIG4", "The API authorizes callers with API keys bound to a usage plan, as the "+
		"contract specifies (header x-api-key); there are no end-user identities to authorize.")
	nag(api, "AwsSolutions-COG4", "Callers are machines holding API keys, not Cognito users.")

	plan := api.AddUsagePlan(jsii.String("UsagePlan"), &awsapigateway.UsagePlanProps{
		Name:        jsii.String("txpipe-" + env),
		Description: jsii.String(fmt.Sprintf("%d requests a day, %d a second with bursts of %d", quotaPerDay, ratePerSec, burst)),
		Quota:       &awsapigateway.QuotaSettings{Limit: jsii.Number(quotaPerDay), Period: awsapigateway.Period_DAY},
		Throttle:    &awsapigateway.ThrottleSettings{RateLimit: jsii.Number(ratePerSec), BurstLimit: jsii.Number(burst)},
	})
	plan.AddApiStage(&awsapigateway.UsagePlanPerApiStage{Stage: api.DeploymentStage()})
	key := awsapigateway.NewApiKey(stack, jsii.String("ApiKey"), &awsapigateway.ApiKeyProps{
		ApiKeyName:  jsii.String("txpipe-" + env),
		Description: jsii.String("txpipe API key (" + env + "); read its value with aws apigateway get-api-key --include-value"),
		Enabled:     jsii.Bool(true),
	})
	plan.AddApiKey(key, nil)
	awscdk.NewCfnOutput(stack, jsii.String("ApiKeyId"), &awscdk.CfnOutputProps{
		Value:       key.KeyId(),
		Description: jsii.String("the generated API key's id"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("ApiKeyValueCommand"), &awscdk.CfnOutputProps{
		Value: awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("aws apigateway get-api-key --api-key "), key.KeyId(),
			jsii.String(" --include-value --query value --output text --region "), stack.Region(),
		}),
		Description: jsii.String("prints the API key's value"),
	})

	// Errors in the contract's shape: {"error": {"code", "message"}}.
	gatewayError := func(id string, t awsapigateway.ResponseType, status, code, retryAfter string) {
		opts := &awsapigateway.GatewayResponseOptions{
			Type: t,
			Templates: &map[string]*string{
				"application/json": jsii.String(`{"error": {"code": "` + code + `", "message": $context.error.messageString}}`),
			},
		}
		if status != "" { // else the status API Gateway chose
			opts.StatusCode = jsii.String(status)
		}
		if retryAfter != "" {
			opts.ResponseHeaders = &map[string]*string{"Retry-After": jsii.String("'" + retryAfter + "'")}
		}
		api.AddGatewayResponse(jsii.String(id), opts)
	}
	gatewayError("InvalidApiKey", awsapigateway.ResponseType_INVALID_API_KEY(), "403", "forbidden", "")
	gatewayError("Throttled", awsapigateway.ResponseType_THROTTLED(), "429", "rate_limited", "1")
	// The quota resets at midnight UTC; a gateway response's headers are
	// static, so it cannot say how far that is: no Retry-After rather than
	// a wrong one (docs/contract.md).
	gatewayError("QuotaExceeded", awsapigateway.ResponseType_QUOTA_EXCEEDED(), "429", "rate_limited", "")
	gatewayError("BadRequestParameters", awsapigateway.ResponseType_BAD_REQUEST_PARAMETERS(), "400", "invalid", "")
	gatewayError("RequestTooLarge", awsapigateway.ResponseType_REQUEST_TOO_LARGE(), "413", "too_large", "")
	gatewayError("UnsupportedMediaType", awsapigateway.ResponseType_UNSUPPORTED_MEDIA_TYPE(), "400", "unsupported", "")
	gatewayError("UnknownPath", awsapigateway.ResponseType_MISSING_AUTHENTICATION_TOKEN(), "404", "not_found", "")
	gatewayError("Default4xx", awsapigateway.ResponseType_DEFAULT_4XX(), "", "invalid", "")
	gatewayError("Default5xx", awsapigateway.ResponseType_DEFAULT_5XX(), "", "internal", "")
	return api, accessLogs
}
