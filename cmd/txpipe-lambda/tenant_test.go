//go:build integration

package main

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/internal/awsenv"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/workflow"
)

// eventOfKey is the API Gateway event name as sent with the API key whose
// id is keyID (requestContext.identity.apiKeyId).
func eventOfKey(t *testing.T, name, keyID string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(event(t, name), &ev); err != nil {
		t.Fatal(err)
	}
	ev["requestContext"].(map[string]any)["identity"].(map[string]any)["apiKeyId"] = keyID
	b, _ := json.Marshal(ev)
	return b
}

// TestTenantsOnEmulators: the validator function maps the API Gateway key
// id of a request to its tenant (an item of the status table); the same
// bytes from a key of the default tenant and from one of acme are two
// files, two records (the default's under its bare id, as before) and two
// executions; a third tenant's key gets 404 for the file.
func TestTenantsOnEmulators(t *testing.T) {
	c := startCloud(t)
	ctx := t.Context()
	db := dynamodb.NewFromConfig(awstest.Config(dynalite.URL))
	statuses := dynamo.NewStatusStore(db, c.env[awsenv.StatusTable])
	if err := statuses.PutKeyTenant(ctx, "acmekey001", "acme", txpipe.RoleUser); err != nil {
		t.Fatal(err)
	}
	if err := statuses.PutKeyTenant(ctx, "betakey001", "beta", txpipe.RoleUser); err != nil {
		t.Fatal(err)
	}
	validator := buildFn(t, workflow.FunctionValidator, io.Discard)

	for _, key := range []string{"9r2kq1xv0b", "acmekey001"} { // the events' own key: no item, the default tenant
		resp, err := invoke[events.APIGatewayProxyResponse](t, validator, eventOfKey(t, "apigw-multipart-upload.json", key))
		if err != nil || resp.StatusCode != 202 || !strings.Contains(resp.Body, `"file_id":"`+uploadFileID+`"`) {
			t.Fatalf("upload with key %s: %v, %d %s; want 202 creating file %s", key, err, resp.StatusCode, resp.Body, uploadFileID)
		}
	}
	for key, want := range map[string]string{"9r2kq1xv0b": `"tenant":"default"`, "acmekey001": `"tenant":"acme"`} {
		resp, err := invoke[events.APIGatewayProxyResponse](t, validator, eventOfKey(t, "apigw-get-status.json", key))
		if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Body, want) || !strings.Contains(resp.Body, `"file_id":"`+uploadFileID+`"`) {
			t.Errorf("GET /status with key %s: %v, %d %s; want 200 with %s", key, err, resp.StatusCode, resp.Body, want)
		}
	}
	resp, err := invoke[events.APIGatewayProxyResponse](t, validator, eventOfKey(t, "apigw-get-status.json", "betakey001"))
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /status with beta's key: %v, %d %s; want 404", err, resp.StatusCode, resp.Body)
	}

	// The default tenant's record keeps its key (the contract's get-item);
	// acme's is under its scoped id.
	for _, key := range []string{uploadFileID, "acme#" + uploadFileID} {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.env[awsenv.StatusTable]),
			Key: map[string]types.AttributeValue{"file_id": &types.AttributeValueMemberS{Value: key}}})
		if err != nil || out.Item == nil {
			t.Errorf("get-item file_id %s: %v, %v; want the record", key, out, err)
		}
	}

	execs, err := c.sfn.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(c.smARN)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range execs.Executions {
		desc, err := c.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
		if err != nil {
			t.Fatal(err)
		}
		var st workflow.RunState
		if err := json.Unmarshal([]byte(aws.ToString(desc.Input)), &st); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.FileID)
	}
	slices.Sort(ids)
	if want := []string{uploadFileID, "acme#" + uploadFileID}; !slices.Equal(ids, want) {
		t.Errorf("executions of %v, want %v", ids, want)
	}
}
