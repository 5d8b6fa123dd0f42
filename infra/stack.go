package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/txpipe/txpipe/internal/awsnames"
	"github.com/txpipe/txpipe/workflow"
)

// Config says which environment a stack is for and where its parts come from.
type Config struct {
	Env        string // environment suffix of the physical names: dev, staging, prod...
	RepoRoot   string // the directory holding the Lambda image's Dockerfile
	CostCenter string // the CostCenter tag

	// Per-environment settings (docs/deploy.md); zero values take the
	// environment's defaults.
	LogRetentionDays       int  // 7, or 90 in prod
	TransformerConcurrency int  // reserved concurrent executions of the transformer; 0: unreserved
	APIGatewayAccount      bool // set the account's API Gateway CloudWatch role (once per account and region)
	Alarms                 AlarmProps
	// UploadOrigins may PUT to presigned upload URLs from a browser (the
	// bucket's CORS); WriteCeiling is the DynamoDB write units a second
	// the transform may use (the map's MaxConcurrency, see
	// workflow.ConcurrencyFor). Zero values take the defaults.
	UploadOrigins []string
	WriteCeiling  int
}

// Stack is the synthesized txpipe stack and the constructs tests look at.
type Stack struct {
	awscdk.Stack
	Validator, Transformer, Notifier awslambda.Function
	StateMachine                     awsstepfunctions.StateMachine
	API                              awsapigateway.RestApi
}

// Physical names and settings shared with the runtime (see
// notes/aws-names.md).
const (
	application = "txpipe"
	timeShards  = "8"
	uploadsDir  = "uploads/"
	// Index names of the tables.
	indexByTime    = awsnames.TimeIndex
	indexByCreated = awsnames.CreatedIndex
	// API limits of the usage plan (the contract's defaults).
	quotaPerDay = 1000
	ratePerSec  = 10
	burst       = 20
	// expressLimit is the longest a Step Functions Express execution runs.
	expressLimit = 5 * time.Minute
	stageName    = "v1"
)

// IsProd reports whether env keeps its data when the stack is deleted.
func IsProd(env string) bool { return env == "prod" || env == "production" }

// Build adds the stack of cfg to app and applies the cdk-nag AwsSolutions
// checks to the whole app.
func Build(app awscdk.App, cfg Config) (*Stack, error) {
	s, err := NewStack(app, "txpipe-"+cfg.Env, cfg)
	if err != nil {
		return nil, err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{
		Verbose: jsii.Bool(true),
		Reports: jsii.Bool(true),
	}), nil)
	return s, nil
}

// NewStack defines txpipe on AWS for one environment.
func NewStack(scope constructs.Construct, id string, cfg Config) (*Stack, error) {
	if cfg.Env == "" {
		return nil, errors.New("no environment suffix")
	}
	if cfg.CostCenter == "" {
		cfg.CostCenter = application
	}
	root, err := filepath.Abs(cfg.RepoRoot)
	if err != nil {
		return nil, fmt.Errorf("repository root %s: %w", cfg.RepoRoot, err)
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		return nil, fmt.Errorf("lambda image: %w (the Dockerfile of the runtime belongs at the repository root)", err)
	}
	def := workflow.PipelineFor(cfg.WriteCeiling)
	asl, err := workflow.ASL(def)
	if err != nil {
		return nil, fmt.Errorf("state machine definition: %w", err)
	}
	timeouts, err := functionTimeouts(def)
	if err != nil {
		return nil, err
	}

	env := cfg.Env
	set, err := settingsFor(cfg)
	if err != nil {
		return nil, err
	}
	removal := set.removal
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		Description: jsii.String(fmt.Sprintf("txpipe transaction-file pipeline (%s)", env)),
	})
	for k, v := range map[string]string{"Environment": env, "Application": application, "CostCenter": cfg.CostCenter} {
		awscdk.Tags_Of(stack).Add(jsii.String(k), jsii.String(v), nil)
	}
	s := &Stack{Stack: stack}

	// Storage.
	transactions := indexedTable(stack, set, "TransactionsTable", awsnames.TransactionsTablePrefix+env, awsnames.TxKey,
		indexByTime, awsnames.TimeBucketKey, awsnames.TimeSortKey)
	status := indexedTable(stack, set, "StatusTable", awsnames.StatusTablePrefix+env, awsnames.StatusKey,
		indexByCreated, awsnames.CreatedDayKey, awsnames.CreatedSortKey)

	bucket := awss3.NewBucket(stack, jsii.String("UploadsBucket"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		RemovalPolicy:     removal,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:     jsii.String("old-uploads"),
			Prefix: jsii.String(uploadsDir),
			// Uploads are read by their run, within minutes, and again
			// only to redrive a failed run from the dead-letter queue
			// (which keeps a run 14 days): cheaper storage after 30 days,
			// gone after a year.
			Transitions: &[]*awss3.Transition{{
				StorageClass:    awss3.StorageClass_INFREQUENT_ACCESS(),
				TransitionAfter: awscdk.Duration_Days(jsii.Number(30)),
			}},
			Expiration:                          awscdk.Duration_Days(jsii.Number(365)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	})
	set.applyToBucket(bucket)
	nag(bucket, "AwsSolutions-S1", "Only the API's callers write uploads (through the validator or a URL the API "+
		"signs for one object), and each such API request is in the API Gateway access log with its API key id, "+
		"request id, status and source IP; S3 server access logs would need a second bucket to repeat that.")

	results := awssns.NewTopic(stack, jsii.String("ResultsTopic"), &awssns.TopicProps{
		TopicName: jsii.String("txpipe-results-" + env),
		// The notification is a node of the run's X-Ray trace, which
		// continues to the subscribers.
		TracingConfig: awssns.TracingConfig_ACTIVE,
		EnforceSSL:    jsii.Bool(true),
		MasterKey:     awskms.Alias_FromAliasName(stack, jsii.String("SnsManagedKey"), jsii.String("alias/aws/sns")),
	})
	alarms := awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		TopicName:  jsii.String("txpipe-alarms-" + env),
		EnforceSSL: jsii.Bool(true),
	})
	// Not encrypted: CloudWatch alarms cannot publish to a topic encrypted
	// with the AWS-managed SNS key, and alarm messages carry no customer
	// data (alarm names and metric values). (cdk-nag's AwsSolutions pack
	// no longer has SNS2, so no suppression.)

	dlq := awssqs.NewQueue(stack, jsii.String("DeadLetterQueue"), &awssqs.QueueProps{
		QueueName:       jsii.String("txpipe-dlq-" + env),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		RemovalPolicy:   removal,
	})
	nag(dlq, "AwsSolutions-SQS3", "This queue is the dead-letter queue of the workflow: the state machine sends "+
		"failed runs to it, and txpipe dlq redrive starts them again.")

	// Lambda functions: one ARM64 image, the command picks the handler.
	imageProps := func(handler string) *awslambda.AssetImageCodeProps {
		return &awslambda.AssetImageCodeProps{
			Platform: awsecrassets.Platform_LINUX_ARM64(),
			Cmd:      jsii.Strings(handler),
			Exclude:  jsii.Strings(imageExcludes...),
		}
	}
	// Every function is told every name (internal/awsnames); each may use
	// only what its grants below allow. The dead-letter queue is written by
	// the state machine's SQS task, not by a function; the validator reads
	// it for the console (consoleDeadLetters).
	common := map[string]*string{
		awsnames.EnvTransactionsTable: transactions.TableName(),
		awsnames.EnvStatusTable:       status.TableName(),
		awsnames.EnvBucket:            bucket.BucketName(),
		awsnames.EnvTopicARN:          results.TopicArn(),
		awsnames.EnvTimeShards:        jsii.String(timeShards),
		// A soft heap limit below the functions' 512 MB, so the Go runtime
		// collects harder before Lambda kills it: the validator's duplicate
		// set for a 5 GB file is ~360 MiB (docs/cost.md).
		"GOMEMLIMIT": jsii.String("448MiB"),
	}
	newFunction := func(id, name, handler, description string, timeout time.Duration, extraEnv map[string]*string) awslambda.Function {
		fnName := fmt.Sprintf("%s-%s", name, env)
		logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
			LogGroupName:  jsii.String("/aws/lambda/" + fnName),
			Retention:     set.retention,
			RemovalPolicy: removal,
		})
		role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("txpipe " + handler + " function (" + env + ")"),
		})
		// Writes to its own log group only (instead of the managed
		// AWSLambdaBasicExecutionRole, which allows every log group).
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
			Resources: jsii.Strings(*logs.LogGroupArn()),
		}))
		envVars := map[string]*string{}
		for k, v := range common {
			envVars[k] = v
		}
		for k, v := range extraEnv {
			envVars[k] = v
		}
		fn := awslambda.NewDockerImageFunction(stack, jsii.String(id), &awslambda.DockerImageFunctionProps{
			FunctionName: jsii.String(fnName),
			Description:  jsii.String(description),
			Code:         awslambda.DockerImageCode_FromImageAsset(jsii.String(root), imageProps(handler)),
			Architecture: awslambda.Architecture_ARM_64(),
			MemorySize:   jsii.Number(512),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(timeout.Seconds())),
			Tracing:      awslambda.Tracing_ACTIVE,
			LogGroup:     logs,
			Role:         role,
			Environment:  &envVars,
		})
		// The X-Ray statement CDK adds for active tracing.
		nag(role, "AwsSolutions-IAM5", "X-Ray accepts trace segments only with Resource *: xray:PutTraceSegments "+
			"and xray:PutTelemetryRecords have no resource-level permissions.", "Resource::*")
		return fn
	}
	// The state machine's ARN, from its name: the validator starts it, and
	// the machine invokes the validator (Validate, Split).
	smName := "txpipe-" + env
	smArn := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("states"), Resource: jsii.String("stateMachine"), ResourceName: jsii.String(smName),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	smExecutions := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("states"), Resource: jsii.String("execution"), ResourceName: jsii.String(smName + ":*"),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	s.Validator = newFunction("Validator", "csv-validator", workflow.FunctionValidator,
		"txpipe CSV validator: the HTTP API; validates uploads (also from S3) and starts their runs", timeouts[workflow.FunctionValidator],
		map[string]*string{awsnames.EnvStateMachineARN: smArn})
	s.Transformer = newFunction("Transformer", "data-transformer", workflow.FunctionTransformer,
		"txpipe data transformer: parses a stored file and writes its transactions", timeouts[workflow.FunctionTransformer], nil)
	s.Notifier = newFunction("Notifier", "notification-sender", workflow.FunctionNotifier,
		"txpipe notification sender: records a run's result and publishes it", timeouts[workflow.FunctionNotifier], nil)

	// The Standard workflow, generated from the definition the local engine runs.
	substitutions := map[string]*string{
		workflow.SubstValidatorArn:       s.Validator.FunctionArn(),
		workflow.SubstTransformerArn:     s.Transformer.FunctionArn(),
		workflow.SubstNotifierArn:        s.Notifier.FunctionArn(),
		workflow.SubstDeadLetterQueueURL: dlq.QueueUrl(),
	}
	used, err := workflow.Substitutions(def)
	if err != nil {
		return nil, err
	}
	for _, name := range used {
		if substitutions[name] == nil {
			return nil, fmt.Errorf("state machine definition: no value for ${%s}", name)
		}
	}
	for name := range substitutions {
		if !slices.Contains(used, name) {
			delete(substitutions, name)
		}
	}
	smLogs := awslogs.NewLogGroup(stack, jsii.String("StateMachineLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/vendedlogs/states/txpipe-" + env),
		Retention:     set.retention,
		RemovalPolicy: removal,
	})
	smRole := awsiam.NewRole(stack, jsii.String("StateMachineRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("txpipe workflow (" + env + ")"),
	})
	// The tasks invoke the functions by their unqualified ARN.
	smRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{s.Validator.FunctionArn(), s.Transformer.FunctionArn(), s.Notifier.FunctionArn()},
	}))
	// The Distributed Map runs its children as executions of the machine.
	smRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("states:StartExecution"),
		Resources: &[]*string{smArn},
	}))
	smRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("states:DescribeExecution", "states:StopExecution"),
		Resources: &[]*string{smExecutions},
	}))
	smRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: &[]*string{dlq.QueueArn()},
	}))
	s.StateMachine = awsstepfunctions.NewStateMachine(stack, jsii.String("Workflow"), &awsstepfunctions.StateMachineProps{
		StateMachineName:        jsii.String(smName),
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(string(asl))),
		DefinitionSubstitutions: &substitutions,
		Role:                    smRole,
		TracingEnabled:          jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          smLogs,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false),
		},
	})
	nag(smRole, "AwsSolutions-IAM5", "The Distributed Map describes and stops the child executions it starts, "+
		"whose names Step Functions makes up: only the machine's own executions (execution:txpipe-<env>:*).",
		"Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"+smName+":*")
	nag(smRole, "AwsSolutions-IAM5", "CloudWatch Logs delivery for Step Functions (logs:CreateLogDelivery and its "+
		"companions) and X-Ray writes support no resource-level permissions, so AWS requires Resource *.",
		"Resource::*")

	// Least privilege: exactly the calls each function makes.
	uploads := jsii.String(*bucket.BucketArn() + "/" + uploadsDir + "*")
	listUploads := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		// With s3:ListBucket a missing key answers 404, not 403.
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  &[]*string{bucket.BucketArn()},
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": uploadsDir + "*"}},
	})
	allow := func(fn awslambda.Function, actions []string, resources ...*string) {
		fn.Role().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings(actions...),
			Resources: &resources,
		}))
	}
	txIndex := jsii.String(*transactions.TableArn() + "/index/" + indexByTime)
	statusIndex := jsii.String(*status.TableArn() + "/index/" + indexByCreated)

	allow(s.Validator, []string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}, uploads)
	s.Validator.Role().AddToPrincipalPolicy(listUploads)
	allow(s.Validator, tableReadWrite, status.TableArn())
	allow(s.Validator, indexRead, statusIndex)
	allow(s.Validator, tableRead, transactions.TableArn())
	allow(s.Validator, indexRead, txIndex)
	allow(s.Validator, []string{"states:StartExecution"}, smArn)
	allowProfiles(stack, s.Validator, bucket)
	allowExports(stack, s.Validator, bucket)

	allow(s.Transformer, []string{"s3:GetObject"}, uploads)
	s.Transformer.Role().AddToPrincipalPolicy(listUploads)
	allow(s.Transformer, tableReadWrite, transactions.TableArn())
	allow(s.Transformer, indexRead, txIndex)
	allow(s.Transformer, tableReadWrite, status.TableArn())

	allow(s.Notifier, tableReadWrite, status.TableArn())
	allow(s.Notifier, []string{"sns:Publish"}, results.TopicArn())

	for _, fn := range []awslambda.Function{s.Validator, s.Transformer} {
		nag(fn.Role(), "AwsSolutions-IAM5", "Uploaded files are stored under uploads/<sha256 of the bytes>, a key "+
			"known only at run time, so object access is granted on the uploads/ prefix.",
			"Resource::<"+logicalID(stack, bucket)+".Arn>/uploads/*")
	}

	var accessLogs awslogs.LogGroup
	s.API, accessLogs = newAPI(stack, s.Validator, env, set, cfg.APIGatewayAccount)
	consoleDeadLetters(s.Validator, dlq)
	set.applyToTransformer(s.Transformer)

	outputs := []struct{ id, value, description string }{
		{"ApiEndpoint", *apiEndpoint(stack, s.API), "api_endpoint: the base URL of the HTTP API (append /upload, /status/{file_id}, /transactions)"},
		{"TransactionsTableName", *transactions.TableName(), "transactions table"},
		{"StatusTableName", *status.TableName(), "file status table"},
		{"UploadsBucketName", *bucket.BucketName(), "bucket of uploaded files"},
		{"ResultsTopicArn", *results.TopicArn(), "SNS topic of run results"},
		{"AlarmTopicArn", *alarms.TopicArn(), "SNS topic of CloudWatch alarms"},
		{"StateMachineArn", *s.StateMachine.StateMachineArn(), "Step Functions Standard workflow (chunks in Express children)"},
		{"DeadLetterQueueUrl", *dlq.QueueUrl(), "SQS dead-letter queue of failed runs"},
		{"ValidatorFunctionName", *s.Validator.FunctionName(), "CSV validator Lambda"},
		{"TransformerFunctionName", *s.Transformer.FunctionName(), "data transformer Lambda"},
		{"NotifierFunctionName", *s.Notifier.FunctionName(), "notification sender Lambda"},
	}
	for _, o := range outputs {
		awscdk.NewCfnOutput(stack, jsii.String(o.id), &awscdk.CfnOutputProps{
			Value:       jsii.String(o.value),
			Description: jsii.String(o.description),
		})
	}

	newUploadFlow(stack, uploadTargets{Env: env, Bucket: bucket, Validator: s.Validator, Notifier: s.Notifier, DLQ: dlq,
		StateMachine: smArn, Origins: cfg.UploadOrigins})

	// Last, so they watch every function and state machine of the stack.
	tables := []awsdynamodb.Table{transactions, status}
	if err := newAlarms(stack, alarmTargets{Env: env, Topic: alarms, API: s.API, AccessLogs: accessLogs, DLQ: dlq, Tables: tables}, cfg.Alarms); err != nil {
		return nil, err
	}
	newDashboard(stack, dashboardTargets{Env: env, API: s.API, DLQ: dlq, Tables: tables})

	// cdk-nag checks what CDK adds for the stack's own plumbing too.
	for _, st := range def.Steps {
		if st.Map != nil && st.ChildWorstCase() >= expressLimit {
			return nil, fmt.Errorf("workflow %s: a chunk of step %s can run %v, not within an Express child's %v",
				def.Name, st.Name, st.ChildWorstCase(), expressLimit)
		}
	}
	return s, nil
}

// DynamoDB actions of the adapters (the transaction writer's conditional
// upserts, the status store's conditional updates, the queries by index).
var (
	tableRead      = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable"}
	tableReadWrite = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable",
		"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem"}
	indexRead = []string{"dynamodb:Query"}
)

// imageExcludes keeps what the Lambda image does not need out of the image
// asset (and so out of its hash and of cdk.out), in .dockerignore syntax.
var imageExcludes = []string{
	".git", "node_modules", "infra", "cdk.out", "data", ".bin", "build", "docs", "**/*_test.go", "**/testdata", "txpipe", "*.test", "*.prof",
}

// functionTimeouts returns each Lambda function's timeout: strictly below
// the Timeout of every task that invokes it (workflow.FunctionTimeout), so
// Step Functions never retries an attempt that still runs.
func functionTimeouts(def workflow.Definition) (map[string]time.Duration, error) {
	t := map[string]time.Duration{}
	for _, f := range []string{workflow.FunctionValidator, workflow.FunctionTransformer, workflow.FunctionNotifier} {
		t[f] = workflow.FunctionTimeout(def, f)
		if t[f] <= 0 {
			return nil, fmt.Errorf("workflow %s: no step runs the %s function", def.Name, f)
		}
		if t[f] > 15*time.Minute {
			return nil, fmt.Errorf("workflow %s: the %s function needs %v, more than Lambda's 15 minutes", def.Name, f, t[f])
		}
	}
	return t, nil
}

// workflowWorstCase returns how long a run of def can take when every step
// that can fail takes all its attempts, each timing out, with the longest
// back-off between them, and then the failure path runs the same way.
func workflowWorstCase(def workflow.Definition) time.Duration {
	step := func(s workflow.Step) time.Duration {
		d := s.Timeout
		p := s.Retry
		p.FullJitter = false
		for a := 2; a <= p.MaxAttempts; a++ {
			d += p.Delay(a) + s.Timeout
		}
		return d
	}
	var d time.Duration
	for _, s := range slices.Concat(def.Steps, def.OnFailure) {
		d += step(s)
	}
	return d
}

// nag suppresses a cdk-nag rule on c and its children, with the reason.
func nag(c constructs.IConstruct, rule, reason string, appliesTo ...string) {
	sup := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		a := make([]any, len(appliesTo))
		for i, v := range appliesTo {
			a[i] = v
		}
		sup.AppliesTo = &a
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{sup}, jsii.Bool(true))
}

// logicalID returns the CloudFormation logical ID of the resource c
// defines (its default child).
func logicalID(stack awscdk.Stack, c constructs.IConstruct) string {
	res := c.Node().DefaultChild().(awscdk.CfnElement)
	return *stack.GetLogicalId(res)
}

// apiEndpoint returns the API's base URL without a trailing slash, so
// "$API_ENDPOINT/upload" is right.
func apiEndpoint(stack awscdk.Stack, api awsapigateway.RestApi) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://"), api.RestApiId(), jsii.String(".execute-api."), stack.Region(),
		jsii.String("."), stack.UrlSuffix(), jsii.String("/"), api.DeploymentStage().StageName(),
	})
}
