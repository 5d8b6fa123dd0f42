package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"
)

// indexedTable is an on-demand table keyed by the string attribute key,
// with point-in-time recovery, deletion protection in prod, and one index
// keyed by the strings hash and sort that projects every attribute.
func indexedTable(stack awscdk.Stack, set settings, id, name, key, index, hash, sort string) awsdynamodb.Table {
	str := func(n string) *awsdynamodb.Attribute {
		return &awsdynamodb.Attribute{Name: jsii.String(n), Type: awsdynamodb.AttributeType_STRING}
	}
	t := awsdynamodb.NewTable(stack, jsii.String(id), &awsdynamodb.TableProps{
		TableName:    jsii.String(name),
		PartitionKey: str(key),
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(set.prod),
		RemovalPolicy:      set.removal,
	})
	t.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(index),
		PartitionKey:   str(hash),
		SortKey:        str(sort),
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	return t
}
