package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// Log retention defaults, in days (docs/deploy.md, "Per-environment
// settings").
const (
	defaultLogRetentionDays     = 7  // dev, staging, ...: a week of logs to debug with
	defaultProdLogRetentionDays = 90 // prod: a quarter, for incident reviews
	// noncurrentVersionDays is how long a replaced or deleted upload's old
	// version is kept in prod, where the bucket is versioned.
	noncurrentVersionDays = 30
)

// settings are what differ between environments, resolved from a Config.
type settings struct {
	prod      bool
	removal   awscdk.RemovalPolicy // dev destroys, prod retains
	retention awslogs.RetentionDays
	days      int // retention in days
	// versioned turns S3 versioning on for the uploads bucket (prod).
	versioned bool
	// transformerConcurrency reserves that many concurrent executions for
	// the transformer (0: unreserved, the account's pool).
	transformerConcurrency int
}

// retentionDays are the retentions CloudWatch Logs accepts, by days.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// settingsFor resolves cfg's per-environment settings.
func settingsFor(cfg Config) (settings, error) {
	prod := IsProd(cfg.Env)
	s := settings{prod: prod, removal: awscdk.RemovalPolicy_DESTROY, versioned: prod, transformerConcurrency: cfg.TransformerConcurrency}
	if prod {
		s.removal = awscdk.RemovalPolicy_RETAIN
	}
	days := cfg.LogRetentionDays
	if days == 0 {
		days = defaultLogRetentionDays
		if prod {
			days = defaultProdLogRetentionDays
		}
	}
	r, ok := retentionDays[days]
	if !ok {
		return settings{}, fmt.Errorf("log retention of %d days: CloudWatch Logs accepts %v", days, slices.Sorted(maps.Keys(retentionDays)))
	}
	s.retention, s.days = r, days
	if cfg.TransformerConcurrency < 0 {
		return settings{}, fmt.Errorf("transformer reserved concurrency %d: want 0 (unreserved) or more", cfg.TransformerConcurrency)
	}
	return s, nil
}

// retentionText says how long the logs are kept, for suppression reasons
// and descriptions.
func (s settings) retentionText() string {
	return fmt.Sprintf("%d days", s.days)
}

// applyToBucket turns versioning on where the settings ask for it, and
// expires old versions so the bucket's lifecycle still bounds its size.
func (s settings) applyToBucket(bucket awss3.Bucket) {
	if !s.versioned {
		return
	}
	cfn := bucket.Node().DefaultChild().(awss3.CfnBucket)
	cfn.SetVersioningConfiguration(&awss3.CfnBucket_VersioningConfigurationProperty{Status: jsii.String("Enabled")})
	bucket.AddLifecycleRule(&awss3.LifecycleRule{
		Id:                          jsii.String("old-versions"),
		NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(noncurrentVersionDays)),
		ExpiredObjectDeleteMarker:   jsii.Bool(true),
	})
}

// applyToTransformer reserves the transformer's concurrency, which also
// caps it: a burst of uploads cannot take every execution of the account
// (starving the API's validator) nor exceed the tables' write budget.
func (s settings) applyToTransformer(fn awslambda.Function) {
	if s.transformerConcurrency == 0 {
		return
	}
	cfn := fn.Node().DefaultChild().(awslambda.CfnFunction)
	cfn.SetReservedConcurrentExecutions(jsii.Number(s.transformerConcurrency))
}
