// Package awsenv reads the environment that names txpipe's AWS resources.
// The Lambda bootstrap and `txpipe serve --aws` share it, so both read the
// same variables the same way. Endpoints are not here: the SDK reads
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> itself, which is how the
// same code runs against emulators.
package awsenv

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/internal/awsnames"
	"github.com/txpipe/txpipe/s3store"
)

// The variables, as the CDK stack sets them on the functions (written once,
// in internal/awsnames).
const (
	TransactionsTable = awsnames.EnvTransactionsTable
	StatusTable       = awsnames.EnvStatusTable
	Bucket            = awsnames.EnvBucket
	TopicARN          = awsnames.EnvTopicARN
	DLQURL            = awsnames.EnvDLQURL
	StateMachineARN   = awsnames.EnvStateMachineARN
	TimeShards        = awsnames.EnvTimeShards
	Volumes           = awsnames.EnvVolumes
)

// Need returns the values of the named variables, or an error naming every
// one that is missing.
func Need(getenv func(string) string, names ...string) (map[string]string, error) {
	vals := map[string]string{}
	var missing []string
	for _, n := range names {
		if v := getenv(n); v != "" {
			vals[n] = v
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variables not set: %v", missing)
	}
	return vals, nil
}

// DynamoOptions returns the options of the DynamoDB adapters that the
// environment sets: TXPIPE_TIME_SHARDS, and TXPIPE_VOLUMES (the volumes
// aggregate is kept unless it is "off": a DynamoDB without transactions,
// such as dynalite, needs "off").
func DynamoOptions(getenv func(string) string) ([]dynamo.Option, error) {
	var opts []dynamo.Option
	switch v := getenv(Volumes); v {
	case "", "on":
		opts = append(opts, dynamo.WithVolumes())
	case "off":
	default:
		return nil, fmt.Errorf("%s=%q: want on or off", Volumes, v)
	}
	s := getenv(TimeShards)
	if s == "" {
		return opts, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("%s=%q: want a positive integer", TimeShards, s)
	}
	return append(opts, dynamo.WithTimeShards(n)), nil
}

// FileStore returns the S3 file store of bucket. With an S3 endpoint of its
// own (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL: an emulator) it addresses
// buckets by path, which emulators need.
func FileStore(cfg aws.Config, getenv func(string) string, bucket string) *s3store.Store {
	return s3store.New(s3Client(cfg, getenv), bucket)
}

// PresignRoleARN names the role whose credentials sign upload URLs (the
// stack's UploadPresignRole: s3:PutObject on incoming/ only).
const PresignRoleARN = "TXPIPE_PRESIGN_ROLE_ARN"

// Presigner returns the S3 presigner of two-step uploads to bucket. With
// $TXPIPE_PRESIGN_ROLE_ARN it signs with that role's credentials (assumed
// for 2 h and renewed when less than 65 min remain, so a URL is good for
// its whole hour); otherwise with the function's own.
func Presigner(cfg aws.Config, getenv func(string) string, bucket string) *s3store.Presigner {
	if arn := getenv(PresignRoleARN); arn != "" {
		c := cfg.Copy()
		c.Credentials = aws.NewCredentialsCache(
			stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), arn, func(o *stscreds.AssumeRoleOptions) {
				o.Duration = 2 * time.Hour
				o.RoleSessionName = "txpipe-presign"
			}),
			func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 65 * time.Minute })
		cfg = c
	}
	return s3store.NewPresigner(s3Client(cfg, getenv), bucket)
}

// Exports returns the store of the API's answers too large for a Lambda
// response, in bucket under exports/. The function's own credentials sign
// their download URLs (s3:GetObject on exports/), not the presigning
// role's, which may only put incoming/ objects.
func Exports(cfg aws.Config, getenv func(string) string, bucket string) *s3store.Exports {
	return s3store.NewExports(s3Client(cfg, getenv), bucket)
}

// Profiles returns the column-mapping profiles kept in bucket (under
// profiles/).
func Profiles(cfg aws.Config, getenv func(string) string, bucket string) *s3store.Profiles {
	return s3store.NewProfiles(s3Client(cfg, getenv), bucket)
}

func s3Client(cfg aws.Config, getenv func(string) string) *s3.Client {
	pathStyle := getenv("AWS_ENDPOINT_URL_S3") != "" || getenv("AWS_ENDPOINT_URL") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
}
