package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.StatusStore = (*StatusStore)(nil)

type (
	itemPutter interface {
		PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	}
	itemGetter interface {
		GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	}
)

// StatusStore is the table of file status records.
type StatusStore struct {
	put   itemPutter
	get   itemGetter
	query querier
	table string
	o     options
}

// NewStatusStore returns the status table named table.
func NewStatusStore(client *dynamodb.Client, table string, opts ...Option) *StatusStore {
	return &StatusStore{put: client, get: client, query: client, table: table, o: newOptions(opts)}
}

// statusItem is a status record as stored: the record's fields under their
// JSON names (encoded with TagKey "json", so txpipe.ErrorItem's tags apply
// too), times as fixed-width UTC text, and the by-created keys.
type statusItem struct {
	FileID     string               `json:"file_id"`
	Status     string               `json:"status"`
	Filename   string               `json:"filename"`
	SHA256     string               `json:"sha256"`
	SizeBytes  int64                `json:"size_bytes"`
	Rows       int64                `json:"rows"`
	Inserted   int64                `json:"inserted"`
	Updated    int64                `json:"updated"`
	Unchanged  int64                `json:"unchanged"`
	ErrorCount int64                `json:"error_count"`
	Errors     []txpipe.ErrorItem   `json:"errors"`
	Failure    string               `json:"failure,omitempty"`
	Attempts   int                  `json:"attempts"`
	CreatedAt  string               `json:"created_at"`
	UpdatedAt  string               `json:"updated_at"`
	CreatedDay string               `json:"created_day"`
	ExpiresAt  string               `json:"expires_at,omitempty"`
	Dialect    *txpipe.Dialect      `json:"dialect,omitempty"`
	Profile    string               `json:"profile,omitempty"`
	Events     []txpipe.StatusEvent `json:"events,omitempty"`

	Format *txpipe.DeclaredFormat `json:"format,omitempty"` // a two-step upload's, until its bytes arrive
}

func encodeStatus(st *txpipe.FileStatus) (map[string]types.AttributeValue, error) {
	it := statusItem{
		FileID: st.FileID, Status: st.Status, Filename: st.Filename, SHA256: st.SHA256,
		SizeBytes: st.SizeBytes, Rows: st.Rows, Inserted: st.Inserted, Updated: st.Updated,
		Unchanged: st.Unchanged, ErrorCount: st.ErrorCount, Errors: st.Errors, Failure: st.Failure,
		Attempts: st.Attempts, CreatedAt: fmtTime(st.CreatedAt), UpdatedAt: fmtTime(st.UpdatedAt),
		CreatedDay: dayOf(st.CreatedAt), Dialect: st.Dialect, Profile: st.Profile, Events: st.Events, Format: st.Format,
	}
	if !st.ExpiresAt.IsZero() {
		it.ExpiresAt = fmtTime(st.ExpiresAt)
	}
	if it.Errors == nil {
		it.Errors = []txpipe.ErrorItem{}
	}
	item, err := attributevalue.MarshalMapWithOptions(it, func(o *attributevalue.EncoderOptions) {
		o.TagKey = "json" // ErrorItem's fields under their JSON names
	})
	if err != nil {
		return nil, txpipe.Errorf(txpipe.EINTERNAL, "encode status of %s: %w", st.FileID, err)
	}
	return item, nil
}

func decodeStatus(item map[string]types.AttributeValue) (*txpipe.FileStatus, error) {
	var it statusItem
	if err := attributevalue.UnmarshalMapWithOptions(item, &it, func(o *attributevalue.DecoderOptions) {
		o.TagKey = "json"
	}); err != nil {
		return nil, fmt.Errorf("decode status item: %w", err)
	}
	st := &txpipe.FileStatus{
		FileID: it.FileID, Status: it.Status, Filename: it.Filename, SHA256: it.SHA256,
		SizeBytes: it.SizeBytes, Rows: it.Rows, Inserted: it.Inserted, Updated: it.Updated,
		Unchanged: it.Unchanged, ErrorCount: it.ErrorCount, Errors: it.Errors, Failure: it.Failure,
		Attempts: it.Attempts, Dialect: it.Dialect, Profile: it.Profile, Events: it.Events, Format: it.Format,
	}
	var err error
	if st.CreatedAt, err = time.Parse(timeLayout, it.CreatedAt); err != nil {
		return nil, fmt.Errorf("decode status item %s: created_at: %w", it.FileID, err)
	}
	if st.UpdatedAt, err = time.Parse(timeLayout, it.UpdatedAt); err != nil {
		return nil, fmt.Errorf("decode status item %s: updated_at: %w", it.FileID, err)
	}
	if it.ExpiresAt != "" {
		if st.ExpiresAt, err = time.Parse(timeLayout, it.ExpiresAt); err != nil {
			return nil, fmt.Errorf("decode status item %s: expires_at: %w", it.FileID, err)
		}
	}
	if st.Errors == nil {
		st.Errors = []txpipe.ErrorItem{}
	}
	if st.Events == nil {
		st.Events = []txpipe.StatusEvent{}
	}
	for i := range st.Events {
		st.Events[i].At = st.Events[i].At.UTC()
	}
	return st, nil
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// CreateStatus implements workflow.StatusStore with a PutItem conditioned
// on attribute_not_exists(file_id).
func (s *StatusStore) CreateStatus(ctx context.Context, st *txpipe.FileStatus) (*txpipe.FileStatus, bool, error) {
	item, err := encodeStatus(st)
	if err != nil {
		return nil, false, err
	}
	_, err = s.put.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": StatusKey},
	})
	switch {
	case err == nil:
		stored := *st
		stored.CreatedAt, stored.UpdatedAt = st.CreatedAt.UTC(), st.UpdatedAt.UTC()
		return &stored, true, nil
	case isConditionFailed(err):
		stored, err := s.GetStatus(ctx, st.FileID)
		if err != nil {
			return nil, false, fmt.Errorf("create status of %s: it exists: %w", st.FileID, err)
		}
		return stored, false, nil
	}
	return nil, false, translate(err, "create status of %s", st.FileID)
}

// GetStatus implements workflow.StatusStore with a consistent GetItem.
func (s *StatusStore) GetStatus(ctx context.Context, fileID string) (*txpipe.FileStatus, error) {
	res, err := s.get.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{StatusKey: &types.AttributeValueMemberS{Value: fileID}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, translate(err, "get status of %s", fileID)
	}
	if res.Item == nil {
		return nil, txpipe.Errorf(txpipe.ENOTFOUND, "file %s not found", fileID)
	}
	st, err := decodeStatus(res.Item)
	if err != nil {
		return nil, txpipe.Errorf(txpipe.EINTERNAL, "get status of %s: %w", fileID, err)
	}
	return st, nil
}

// UpdateStatus implements workflow.StatusStore with a PutItem conditioned
// on the stored status being one of from. When the condition fails it reads
// the record to tell a missing file (ENOTFOUND) from a conflict (ECONFLICT).
func (s *StatusStore) UpdateStatus(ctx context.Context, st *txpipe.FileStatus, from ...string) error {
	if len(from) > 0 {
		item, err := encodeStatus(st)
		if err != nil {
			return err
		}
		names := map[string]string{"#id": StatusKey, "#s": attrStatus}
		values := make(map[string]types.AttributeValue, len(from))
		var in []string
		for i, f := range from {
			v := ":s" + strconv.Itoa(i)
			values[v] = &types.AttributeValueMemberS{Value: f}
			in = append(in, v)
		}
		_, err = s.put.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.table),
			Item:                      item,
			ConditionExpression:       aws.String("attribute_exists(#id) AND #s IN (" + strings.Join(in, ", ") + ")"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		if err == nil {
			return nil
		}
		if !isConditionFailed(err) {
			return translate(err, "update status of %s to %s", st.FileID, st.Status)
		}
	}
	stored, err := s.GetStatus(ctx, st.FileID)
	if err != nil {
		return fmt.Errorf("update status of %s: %w", st.FileID, err)
	}
	return txpipe.Errorf(txpipe.ECONFLICT, "update status of %s to %s: it is %s, not one of %s",
		st.FileID, st.Status, stored.Status, strings.Join(from, ", "))
}

// ListRecent returns up to limit status records, newest first, from the
// by-created index: it reads today's partition and then earlier days, at
// most 31 days back.
func (s *StatusStore) ListRecent(ctx context.Context, limit int) ([]*txpipe.FileStatus, error) {
	if limit <= 0 {
		limit = 100
	}
	out := []*txpipe.FileStatus{}
	today := s.o.now().UTC()
	for d := 0; d <= 31 && len(out) < limit; d++ {
		day := dayOf(today.AddDate(0, 0, -d))
		var start map[string]types.AttributeValue
		for len(out) < limit {
			res, err := s.query.Query(ctx, &dynamodb.QueryInput{
				TableName:                 aws.String(s.table),
				IndexName:                 aws.String(CreatedIndex),
				KeyConditionExpression:    aws.String("#d = :d"),
				ExpressionAttributeNames:  map[string]string{"#d": CreatedDayKey},
				ExpressionAttributeValues: map[string]types.AttributeValue{":d": &types.AttributeValueMemberS{Value: day}},
				ScanIndexForward:          aws.Bool(false),
				Limit:                     aws.Int32(int32(limit - len(out))),
				ExclusiveStartKey:         start,
			})
			if err != nil {
				return nil, translate(err, "list recent files of %s", day)
			}
			for _, item := range res.Items {
				st, err := decodeStatus(item)
				if err != nil {
					return nil, txpipe.Errorf(txpipe.EINTERNAL, "list recent files: %w", err)
				}
				out = append(out, st)
			}
			if start = res.LastEvaluatedKey; start == nil {
				break
			}
		}
	}
	return out, nil
}
