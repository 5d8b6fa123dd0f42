package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/txpipe/txpipe/internal/awsnames"
)

// Threshold says when an alarm fires: DatapointsToAlarm of the last
// EvaluationPeriods periods of Period breach Value. Missing data never
// breaches.
type Threshold struct {
	Value             float64
	Period            time.Duration
	DatapointsToAlarm int
	EvaluationPeriods int
}

// AlarmProps are the alarms' thresholds. A zero Threshold takes its
// default from DefaultAlarmProps; docs/operations.md lists them with what
// each alarm means and what to do.
type AlarmProps struct {
	FunctionErrorRate Threshold // % of a function's invocations that failed
	FunctionThrottles Threshold // throttled invocations of a function
	API5XXRate        Threshold // % of the API's requests answered 5XX
	APILatencyP99     Threshold // p99 of the API's latency, in milliseconds
	APIThrottles      Threshold // requests answered 429 (rate limit or quota)
	ExecutionsFailed  Threshold // executions failed, timed out or aborted, per state machine
	DeadLetters       Threshold // messages in the dead-letter queue
	DeadLetterAge     Threshold // age of the oldest dead letter, in seconds
	DynamoThrottles   Threshold // throttled reads and writes of a table
	// RunbookURL is docs/operations.md as a reader of the alarm e-mail
	// opens it; each description links a section of it.
	RunbookURL string
}

// DefaultAlarmProps are the thresholds a zero AlarmProps field takes.
func DefaultAlarmProps() AlarmProps {
	return AlarmProps{
		FunctionErrorRate: Threshold{Value: 5, Period: time.Minute, DatapointsToAlarm: 3, EvaluationPeriods: 5},
		FunctionThrottles: Threshold{Value: 5, Period: time.Minute, DatapointsToAlarm: 3, EvaluationPeriods: 5},
		API5XXRate:        Threshold{Value: 5, Period: time.Minute, DatapointsToAlarm: 3, EvaluationPeriods: 5},
		APILatencyP99:     Threshold{Value: 10000, Period: 5 * time.Minute, DatapointsToAlarm: 2, EvaluationPeriods: 3},
		APIThrottles:      Threshold{Value: 20, Period: 5 * time.Minute, DatapointsToAlarm: 2, EvaluationPeriods: 3},
		// One failed execution is a run that needs a look: alarm on the
		// first, and go back to OK only after three quiet periods.
		ExecutionsFailed: Threshold{Value: 1, Period: 5 * time.Minute, DatapointsToAlarm: 1, EvaluationPeriods: 3},
		DeadLetters:      Threshold{Value: 1, Period: time.Minute, DatapointsToAlarm: 2, EvaluationPeriods: 3},
		DeadLetterAge:    Threshold{Value: 24 * 3600, Period: 5 * time.Minute, DatapointsToAlarm: 2, EvaluationPeriods: 3},
		DynamoThrottles:  Threshold{Value: 10, Period: time.Minute, DatapointsToAlarm: 3, EvaluationPeriods: 5},
		RunbookURL:       "https://github.com/txpipe/txpipe/blob/main/docs/operations.md",
	}
}

// withDefaults fills the zero fields of p from DefaultAlarmProps and checks
// each threshold is M of N with 1 <= M <= N.
func (p AlarmProps) withDefaults() (AlarmProps, error) {
	d := DefaultAlarmProps()
	fill := func(name string, t *Threshold, def Threshold) error {
		if *t == (Threshold{}) {
			*t = def
		}
		if t.Period < time.Minute || t.Period%time.Minute != 0 {
			return fmt.Errorf("alarm %s: period %v, want whole minutes", name, t.Period)
		}
		if t.DatapointsToAlarm < 1 || t.DatapointsToAlarm > t.EvaluationPeriods {
			return fmt.Errorf("alarm %s: %d of %d datapoints, want 1 <= M <= N", name, t.DatapointsToAlarm, t.EvaluationPeriods)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		t    *Threshold
		def  Threshold
	}{
		{"FunctionErrorRate", &p.FunctionErrorRate, d.FunctionErrorRate},
		{"FunctionThrottles", &p.FunctionThrottles, d.FunctionThrottles},
		{"API5XXRate", &p.API5XXRate, d.API5XXRate},
		{"APILatencyP99", &p.APILatencyP99, d.APILatencyP99},
		{"APIThrottles", &p.APIThrottles, d.APIThrottles},
		{"ExecutionsFailed", &p.ExecutionsFailed, d.ExecutionsFailed},
		{"DeadLetters", &p.DeadLetters, d.DeadLetters},
		{"DeadLetterAge", &p.DeadLetterAge, d.DeadLetterAge},
		{"DynamoThrottles", &p.DynamoThrottles, d.DynamoThrottles},
	} {
		if err := fill(f.name, f.t, f.def); err != nil {
			return p, err
		}
	}
	if p.RunbookURL == "" {
		p.RunbookURL = d.RunbookURL
	}
	return p, nil
}

// MetricAPIThrottled is the custom metric counting the API's 429 answers,
// extracted from the access log by a metric filter (API Gateway's REST
// metrics have no throttle count: 429s are inside 4XXError).
const MetricAPIThrottled = "ApiThrottled"

// alarmTargets is what the alarms watch.
type alarmTargets struct {
	Env        string
	Topic      awssns.Topic
	API        awsapigateway.RestApi
	AccessLogs awslogs.LogGroup
	DLQ        awssqs.Queue
	Tables     []awsdynamodb.Table
}

// allowCloudWatch lets CloudWatch alarms of this account publish to topic,
// beside its TLS-only rule: without it no alarm notification arrives.
func allowCloudWatch(stack awscdk.Stack, topic awssns.Topic) {
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarms"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()},
			"ArnLike": map[string]any{"aws:SourceArn": awscdk.Fn_Join(jsii.String(""), &[]*string{
				jsii.String("arn:"), stack.Partition(), jsii.String(":cloudwatch:"), stack.Region(), jsii.String(":"),
				stack.Account(), jsii.String(":alarm:*"),
			})},
		},
	}))
}

// resourcesOfType returns the CloudFormation resources of typ under scope,
// in construct order. The alarms and the dashboard find the functions and
// state machines this way, so ones added later are watched too.
func resourcesOfType(scope constructs.IConstruct, typ string) []awscdk.CfnResource {
	var out []awscdk.CfnResource
	for _, c := range *scope.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		if r, ok := c.(awscdk.CfnResource); ok && *r.CfnResourceType() == typ {
			out = append(out, r)
		}
	}
	return out
}

// watched is a function or state machine found in the stack: the id of
// its construct (Validator, Workflow, ...) and its CloudFormation resource.
type watched struct {
	id  string
	res awscdk.CfnResource
}

func watchedOfType(stack awscdk.Stack, typ string) []watched {
	var out []watched
	for _, r := range resourcesOfType(stack, typ) {
		id := *r.Node().Id()
		if id == "Resource" { // an L2 construct's default child: name it for its parent
			id = *r.Node().Scope().Node().Id()
		}
		out = append(out, watched{id: id, res: r})
	}
	return out
}

func (w watched) functionMetric(name string, stat *string, period time.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/Lambda"), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{"FunctionName": w.res.Ref()},
		Statistic:     stat, Period: awscdk.Duration_Seconds(jsii.Number(period.Seconds())),
	})
}

func (w watched) statesMetric(name string, stat *string, period time.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/States"), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{"StateMachineArn": w.res.Ref()},
		Statistic:     stat, Period: awscdk.Duration_Seconds(jsii.Number(period.Seconds())),
	})
}

func duration(d time.Duration) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(d.Seconds()))
}

// newAlarms defines the stack's alarms, each notifying the alarm topic
// when it fires and when it is OK again. Call it last: it watches every
// function and state machine the stack has.
func newAlarms(stack awscdk.Stack, t alarmTargets, p AlarmProps) error {
	p, err := p.withDefaults()
	if err != nil {
		return err
	}
	allowCloudWatch(stack, t.Topic)
	action := awscloudwatchactions.NewSnsAction(t.Topic)
	alarm := func(id string, m awscloudwatch.IMetric, th Threshold, cmp awscloudwatch.ComparisonOperator, meaning, todo, section string) {
		desc := fmt.Sprintf("%s What to do: %s Runbook: %s#%s", meaning, todo, p.RunbookURL, section)
		if len(desc) > 1024 {
			panic(fmt.Sprintf("alarm %s: description of %d characters, CloudWatch takes 1024", id, len(desc)))
		}
		a := awscloudwatch.NewAlarm(stack, jsii.String(id+"Alarm"), &awscloudwatch.AlarmProps{
			Metric:             m,
			AlarmName:          jsii.String(fmt.Sprintf("txpipe-%s-%s", t.Env, kebab(id))),
			AlarmDescription:   jsii.String(desc),
			Threshold:          jsii.Number(th.Value),
			ComparisonOperator: cmp,
			EvaluationPeriods:  jsii.Number(th.EvaluationPeriods),
			DatapointsToAlarm:  jsii.Number(th.DatapointsToAlarm),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	over := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	atLeast := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	sum := awscloudwatch.Stats_SUM()

	for _, fn := range watchedOfType(stack, "AWS::Lambda::Function") {
		th := p.FunctionErrorRate
		rate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("IF(invocations > 0, 100 * errors / invocations, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"errors":      fn.functionMetric("Errors", sum, th.Period),
				"invocations": fn.functionMetric("Invocations", sum, th.Period),
			},
			Label:  jsii.String(fn.id + " error rate (%)"),
			Period: duration(th.Period),
		})
		alarm(fn.id+"ErrorRate", rate, th, over,
			fmt.Sprintf("More than %g%% of the %s function's invocations failed in %d of the last %d periods of %v.",
				th.Value, fn.id, th.DatapointsToAlarm, th.EvaluationPeriods, th.Period),
			"read the function's log group for the errors (aws logs tail), fix the cause; failed runs wait in the dead-letter queue for txpipe dlq redrive --aws.",
			"function-error-rate")
		th = p.FunctionThrottles
		alarm(fn.id+"Throttles", fn.functionMetric("Throttles", sum, th.Period), th, atLeast,
			fmt.Sprintf("Lambda throttled at least %g invocations of the %s function per %v in %d of the last %d periods: "+
				"its concurrency (reserved, or the account's) is used up.", th.Value, fn.id, th.Period, th.DatapointsToAlarm, th.EvaluationPeriods),
			"check the account's concurrent executions and the function's reserved concurrency (transformerConcurrency); raise the limit or slow the uploads.",
			"lambda-throttles")
	}

	for _, sm := range watchedOfType(stack, "AWS::StepFunctions::StateMachine") {
		th := p.ExecutionsFailed
		failed := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("FILL(failed, 0) + FILL(timedout, 0) + FILL(aborted, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"failed":   sm.statesMetric("ExecutionsFailed", sum, th.Period),
				"timedout": sm.statesMetric("ExecutionsTimedOut", sum, th.Period),
				"aborted":  sm.statesMetric("ExecutionsAborted", sum, th.Period),
			},
			Label:  jsii.String(sm.id + " executions failed, timed out or aborted"),
			Period: duration(th.Period),
		})
		alarm(sm.id+"ExecutionsFailed", failed, th, atLeast,
			fmt.Sprintf("At least %g executions of the %s state machine failed, timed out or were aborted per %v (%d of the last %d periods).",
				th.Value, sm.id, th.Period, th.DatapointsToAlarm, th.EvaluationPeriods),
			"find the execution (aws stepfunctions list-executions --status-filter FAILED), read its error and the function logs; txpipe dlq list --aws shows the runs to redrive.",
			"failed-executions")
	}

	th := p.API5XXRate
	apiRate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("IF(requests > 0, 100 * errors / requests, 0)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"errors":   t.API.MetricServerError(&awscloudwatch.MetricOptions{Statistic: sum, Period: duration(th.Period)}),
			"requests": t.API.MetricCount(&awscloudwatch.MetricOptions{Statistic: sum, Period: duration(th.Period)}),
		},
		Label:  jsii.String("API 5XX rate (%)"),
		Period: duration(th.Period),
	})
	alarm("Api5xxRate", apiRate, th, over,
		fmt.Sprintf("More than %g%% of the API's requests were answered 5XX in %d of the last %d periods of %v.",
			th.Value, th.DatapointsToAlarm, th.EvaluationPeriods, th.Period),
		"read the access log (status 5XX, with request id) and the validator's log for that request id; 504 means the validator ran past 29 s.",
		"api-5xx-rate")
	th = p.APILatencyP99
	alarm("ApiLatencyP99", t.API.MetricLatency(&awscloudwatch.MetricOptions{Statistic: awscloudwatch.Stats_P(jsii.Number(99)), Period: duration(th.Period)}),
		th, over,
		fmt.Sprintf("The API's p99 latency was above %g ms in %d of the last %d periods of %v.", th.Value, th.DatapointsToAlarm, th.EvaluationPeriods, th.Period),
		"compare Latency with IntegrationLatency on the dashboard: the validator (large uploads, DynamoDB) or API Gateway; read the slow requests in the access log.",
		"api-latency")
	th = p.APIThrottles
	throttled := awslogs.NewMetricFilter(stack, jsii.String("ApiThrottledFilter"), &awslogs.MetricFilterProps{
		LogGroup:        t.AccessLogs,
		FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$.status"), jsii.String("="), jsii.String("429")),
		MetricNamespace: jsii.String(awsnames.MetricsNamespace),
		MetricName:      jsii.String(MetricAPIThrottled),
		MetricValue:     jsii.String("1"),
		DefaultValue:    jsii.Number(0),
	})
	alarm("ApiThrottles", throttled.Metric(&awscloudwatch.MetricOptions{Statistic: sum, Period: duration(th.Period)}), th, atLeast,
		fmt.Sprintf("The API answered at least %g requests with 429 (rate limit or daily quota) per %v in %d of the last %d periods.",
			th.Value, th.Period, th.DatapointsToAlarm, th.EvaluationPeriods),
		"find the API key in the access log (apiKeyId, status 429); raise the usage plan's limits if the traffic is legitimate.",
		"api-throttles")

	th = p.DeadLetters
	alarm("DeadLetters", t.DLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Statistic: awscloudwatch.Stats_MAXIMUM(), Period: duration(th.Period)}), th, atLeast,
		fmt.Sprintf("At least %g failed runs wait in the dead-letter queue (%d of the last %d periods of %v).",
			th.Value, th.DatapointsToAlarm, th.EvaluationPeriods, th.Period),
		"txpipe dlq list --aws shows them with their errors; fix the cause, then txpipe dlq redrive --aws <file_id>.",
		"dead-letters")
	th = p.DeadLetterAge
	alarm("DeadLetterAge", t.DLQ.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
		Statistic: awscloudwatch.Stats_MAXIMUM(), Period: duration(th.Period)}), th, atLeast,
		fmt.Sprintf("The oldest dead letter has waited %g s or more (%d of the last %d periods of %v); the queue keeps messages 14 days, then they are lost.",
			th.Value, th.DatapointsToAlarm, th.EvaluationPeriods, th.Period),
		"redrive or discard it now: txpipe dlq list --aws, then txpipe dlq redrive --aws <file_id>.",
		"dead-letter-age")

	th = p.DynamoThrottles
	for _, tb := range t.Tables {
		id := *tb.Node().Id()
		id = strings.TrimSuffix(id, "Table")
		throttles := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("FILL(reads, 0) + FILL(writes, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"reads":  tb.Metric(jsii.String("ReadThrottleEvents"), &awscloudwatch.MetricOptions{Statistic: sum, Period: duration(th.Period)}),
				"writes": tb.Metric(jsii.String("WriteThrottleEvents"), &awscloudwatch.MetricOptions{Statistic: sum, Period: duration(th.Period)}),
			},
			Label:  jsii.String(id + " throttled reads and writes"),
			Period: duration(th.Period),
		})
		alarm(id+"DynamoThrottles", throttles, th, atLeast,
			fmt.Sprintf("DynamoDB throttled at least %g reads or writes of the %s table per %v in %d of the last %d periods.",
				th.Value, id, th.Period, th.DatapointsToAlarm, th.EvaluationPeriods),
			"on-demand tables throttle on a hot partition or a sudden doubling of traffic; check the dashboard's consumed capacity; the transformer retries, runs that still fail reach the dead-letter queue.",
			"dynamodb-throttles")
	}
	return nil
}

// kebab turns ValidatorErrorRate into validator-error-rate.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
