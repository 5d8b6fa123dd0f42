package main

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/txpipe/txpipe/internal/awsnames"
	"github.com/txpipe/txpipe/workflow"
)

// dashboardTargets is what the dashboard shows.
type dashboardTargets struct {
	Env    string
	API    awsapigateway.RestApi
	DLQ    awssqs.Queue
	Tables []awsdynamodb.Table
}

// custom is one of the metrics the functions emit (EMF, awsnames), for
// the function handler.
func custom(name, handler, stat, label string, period time.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(awsnames.MetricsNamespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{awsnames.MetricDimFunction: jsii.String(handler)},
		Statistic:     jsii.String(stat),
		Label:         jsii.String(label),
		Period:        duration(period),
	})
}

// newDashboard defines the stack's CloudWatch dashboard, txpipe-<env>. Its
// custom metrics are named by awsnames, the names the code emits. Call it
// last, as newAlarms: it shows every function and state machine.
func newDashboard(stack awscdk.Stack, t dashboardTargets) awscloudwatch.Dashboard {
	hour, minute := time.Hour, time.Minute
	sum, p50, p99 := *awscloudwatch.Stats_SUM(), *awscloudwatch.Stats_P(jsii.Number(50)), *awscloudwatch.Stats_P(jsii.Number(99))
	graph := func(title string, left []awscloudwatch.IMetric, right ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(12), Height: jsii.Number(6), Left: &left, Right: &right,
		})
	}
	v, tr, n := workflow.FunctionValidator, workflow.FunctionTransformer, workflow.FunctionNotifier

	throughput := graph("Uploads and rows per hour", []awscloudwatch.IMetric{
		custom(awsnames.MetricUploads, v, sum, "uploads", hour),
		custom(awsnames.MetricFilesRejected, v, sum, "files rejected", hour),
	},
		custom(awsnames.MetricRowsValidated, v, sum, "rows validated", hour),
		custom(awsnames.MetricRowsRejected, v, sum, "rows rejected", hour),
		custom(awsnames.MetricRowsWritten, tr, sum, "rows written", hour),
	)
	outcomes := graph("Runs per hour", []awscloudwatch.IMetric{
		custom(awsnames.MetricRunsFinished, n, sum, "runs finished", hour),
		custom(awsnames.MetricRunsFailed, n, sum, "runs failed", hour),
		custom(awsnames.MetricRetries, tr, sum, "step retries (transformer)", hour),
		custom(awsnames.MetricStepErrors, tr, sum, "step errors (transformer)", hour),
	})

	var runTime, stepTime []awscloudwatch.IMetric
	for _, sm := range watchedOfType(stack, "AWS::StepFunctions::StateMachine") {
		for _, s := range []struct{ stat, label string }{{p50, " p50"}, {p99, " p99"}} {
			m := sm.statesMetric("ExecutionTime", jsii.String(s.stat), 5*minute)
			runTime = append(runTime, m.With(&awscloudwatch.MetricOptions{Label: jsii.String(sm.id + s.label)}))
		}
	}
	for _, fn := range []string{tr, n} {
		stepTime = append(stepTime,
			custom(awsnames.MetricStepDuration, fn, p50, fn+" step p50", 5*minute),
			custom(awsnames.MetricStepDuration, fn, p99, fn+" step p99", 5*minute))
	}
	durations := graph("Run duration (ms): executions and steps", runTime, stepTime...)

	var errorRates []awscloudwatch.IMetric
	for i, fn := range watchedOfType(stack, "AWS::Lambda::Function") {
		// Ids are per graph: errors0, invocations0, errors1, ...
		e, n := fmt.Sprintf("errors%d", i), fmt.Sprintf("invocations%d", i)
		errorRates = append(errorRates, awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fmt.Sprintf("IF(%s > 0, 100 * %s / %s, 0)", n, e, n)),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				e: fn.functionMetric("Errors", jsii.String(sum), 5*minute),
				n: fn.functionMetric("Invocations", jsii.String(sum), 5*minute),
			},
			Label:  jsii.String(fn.id + " error rate (%)"),
			Period: duration(5 * minute),
		}))
	}
	errors := graph("Function error rates (%)", errorRates)

	dlq := graph("Dead-letter queue", []awscloudwatch.IMetric{
		t.DLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: awscloudwatch.Stats_MAXIMUM(), Label: jsii.String("dead letters")}),
	}, t.DLQ.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Statistic: awscloudwatch.Stats_MAXIMUM(), Label: jsii.String("age of the oldest (s)")}))

	var consumed, throttled []awscloudwatch.IMetric
	for _, tb := range t.Tables {
		id := *tb.Node().Id()
		consumed = append(consumed, tb.MetricConsumedWriteCapacityUnits(&awscloudwatch.MetricOptions{Statistic: jsii.String(sum), Label: jsii.String(id + " consumed WCU")}))
		throttled = append(throttled, tb.Metric(jsii.String("WriteThrottleEvents"), &awscloudwatch.MetricOptions{Statistic: jsii.String(sum), Label: jsii.String(id + " throttled writes")}))
	}
	dynamo := graph("DynamoDB writes: consumed and throttled", consumed, throttled...)

	latency := graph("API latency (ms)", []awscloudwatch.IMetric{
		t.API.MetricLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String(p50), Label: jsii.String("latency p50")}),
		t.API.MetricLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String(p99), Label: jsii.String("latency p99")}),
		t.API.MetricIntegrationLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String(p99), Label: jsii.String("validator p99")}),
	})
	apiErrors := graph("API requests, 4XX and 5XX", []awscloudwatch.IMetric{
		t.API.MetricCount(&awscloudwatch.MetricOptions{Statistic: jsii.String(sum), Label: jsii.String("requests")}),
	},
		t.API.MetricClientError(&awscloudwatch.MetricOptions{Statistic: jsii.String(sum), Label: jsii.String("4XX")}),
		t.API.MetricServerError(&awscloudwatch.MetricOptions{Statistic: jsii.String(sum), Label: jsii.String("5XX")}),
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(awsnames.MetricsNamespace), MetricName: jsii.String(MetricAPIThrottled),
			Statistic: jsii.String(sum), Label: jsii.String("429"),
		}),
	)

	return awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String("txpipe-" + t.Env),
		DefaultInterval: awscdk.Duration_Days(jsii.Number(1)),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{throughput, outcomes},
			{durations, errors},
			{dlq, dynamo},
			{latency, apiErrors},
		},
	})
}
