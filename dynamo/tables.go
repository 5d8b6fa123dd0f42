package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe/internal/awsnames"
)

// Table and index names and key attributes, as the CDK stack declares them
// (see docs/dynamodb-keys.md); written once, in internal/awsnames.
const (
	TxKey         = awsnames.TxKey         // transactions table partition key (S)
	TimeIndex     = awsnames.TimeIndex     // transactions GSI
	TimeBucketKey = awsnames.TimeBucketKey // by-time partition key (S): "YYYY-MM-DD#<shard>"
	TimeSortKey   = awsnames.TimeSortKey   // by-time sort key (S): fixed-width UTC timestamp "#" transaction_id

	StatusKey      = awsnames.StatusKey      // status table partition key (S)
	CreatedIndex   = awsnames.CreatedIndex   // status GSI
	CreatedDayKey  = awsnames.CreatedDayKey  // by-created partition key (S): "YYYY-MM-DD"
	CreatedSortKey = awsnames.CreatedSortKey // by-created sort key (S): fixed-width RFC 3339 UTC

	// DefaultTimeShards is the number of shards of a day bucket when the
	// TXPIPE_TIME_SHARDS setting is not given.
	DefaultTimeShards = 8
)

// tableCreator is the part of the DynamoDB client that creates tables.
type tableCreator interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// CreateTransactionsTable creates the transactions table with its by-time
// index, on demand billing, and waits until it is active. A table that
// exists already is left as it is. It is meant for emulators and tests; on
// AWS the CDK stack owns the table.
func CreateTransactionsTable(ctx context.Context, client *dynamodb.Client, name string) error {
	return createTable(ctx, client, indexedTable(name, TxKey, TimeIndex, TimeBucketKey, TimeSortKey))
}

// CreateStatusTable creates the status table with its by-created index, as
// CreateTransactionsTable does.
func CreateStatusTable(ctx context.Context, client *dynamodb.Client, name string) error {
	return createTable(ctx, client, indexedTable(name, StatusKey, CreatedIndex, CreatedDayKey, CreatedSortKey))
}

// indexedTable is an on-demand table with string key key and one index,
// index, keyed by the strings hash and sort, projecting every attribute.
func indexedTable(name, key, index, hash, sort string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(key), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(hash), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(sort), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(index),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(sort), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	}
}

func createTable(ctx context.Context, c tableCreator, in *dynamodb.CreateTableInput) error {
	name := aws.ToString(in.TableName)
	_, err := c.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return translate(err, "create table %s", name)
	}
	for {
		out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
		if err != nil {
			return translate(err, "describe table %s", name)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for table %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
