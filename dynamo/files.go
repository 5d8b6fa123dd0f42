package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe"
)

// Files list reach: the by-created index is partitioned by day, so a page
// walks days back from the cursor's; it reads at most fileWalkDays days a
// request and stops fileHorizonDays before today.
const (
	fileWalkDays    = 31
	fileHorizonDays = 366
)

// fileCursor is a position in the by-created walk: the day, and the index
// key of the last record returned on it (empty to start the day).
type fileCursor struct {
	Day       string `json:"d"`
	CreatedAt string `json:"c,omitempty"`
	FileID    string `json:"f,omitempty"`
}

func (c fileCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeFileCursor(s string) (fileCursor, error) {
	var c fileCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil && len(b) < 1024 {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Day == "" {
		return fileCursor{}, txpipe.Errorf(txpipe.EINVALID, "invalid cursor")
	}
	if _, err := time.Parse(time.DateOnly, c.Day); err != nil {
		return fileCursor{}, txpipe.Errorf(txpipe.EINVALID, "invalid cursor")
	}
	return c, nil
}

// ListFiles returns status records newest first from the by-created index,
// filtered by status and by a part of the filename (case-insensitive, in
// the adapter: DynamoDB's contains() is case-sensitive). A page may come
// back short, or empty, with a next cursor when the walk's day budget ran
// out; the walk ends a year back.
func (s *StatusStore) ListFiles(ctx context.Context, q txpipe.FileQuery) (txpipe.FilePage, error) {
	limit := q.PageSize()
	today := s.o.now().UTC()
	horizon := dayOf(today.AddDate(0, 0, -fileHorizonDays))
	cur := fileCursor{Day: dayOf(today)}
	if q.Cursor != "" {
		c, err := decodeFileCursor(q.Cursor)
		if err != nil {
			return txpipe.FilePage{}, err
		}
		cur = c
	}
	page := txpipe.FilePage{Items: []txpipe.FileStatus{}}
	for walked := 0; cur.Day >= horizon; walked++ {
		if walked == fileWalkDays {
			page.NextCursor = cur.encode()
			return page, nil
		}
		var start map[string]types.AttributeValue
		if cur.CreatedAt != "" {
			start = map[string]types.AttributeValue{
				CreatedDayKey:  &types.AttributeValueMemberS{Value: cur.Day},
				CreatedSortKey: &types.AttributeValueMemberS{Value: cur.CreatedAt},
				StatusKey:      &types.AttributeValueMemberS{Value: cur.FileID},
			}
		}
		for {
			res, err := s.query.Query(ctx, &dynamodb.QueryInput{
				TableName:                 aws.String(s.table),
				IndexName:                 aws.String(CreatedIndex),
				KeyConditionExpression:    aws.String("#d = :d"),
				ExpressionAttributeNames:  map[string]string{"#d": CreatedDayKey},
				ExpressionAttributeValues: map[string]types.AttributeValue{":d": &types.AttributeValueMemberS{Value: cur.Day}},
				ScanIndexForward:          aws.Bool(false),
				Limit:                     aws.Int32(int32(min(limit+1, 100))),
				ExclusiveStartKey:         start,
			})
			if err != nil {
				return txpipe.FilePage{}, translate(err, "list files of %s", cur.Day)
			}
			for _, item := range res.Items {
				st, err := decodeStatus(item)
				if err != nil {
					return txpipe.FilePage{}, txpipe.Errorf(txpipe.EINTERNAL, "list files: %w", err)
				}
				if !q.Matches(st) {
					cur.CreatedAt, cur.FileID = fmtTime(st.CreatedAt), st.FileID
					continue
				}
				if len(page.Items) == limit {
					page.NextCursor = cur.encode()
					return page, nil
				}
				page.Items = append(page.Items, st.ListItem())
				cur.CreatedAt, cur.FileID = fmtTime(st.CreatedAt), st.FileID
			}
			if start = res.LastEvaluatedKey; start == nil {
				break
			}
		}
		d, _ := time.Parse(time.DateOnly, cur.Day)
		cur = fileCursor{Day: dayOf(d.AddDate(0, 0, -1))}
	}
	return page, nil
}
