package lambda

import (
	"context"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// Uploader takes in an uploaded file (implemented by *workflow.Intake; it
// is httpapi.Uploader).
type Uploader interface {
	Submit(ctx context.Context, up workflow.Upload) (*txpipe.FileStatus, bool, error)
}

// UploadMetrics count uploads and their rows (implemented by
// *telemetry.EMF).
type UploadMetrics interface {
	Upload(result string)
	RowsValidated(n int64)
	RowsRejected(n int64)
}

// CountUploads returns u, recording each upload's result and rows in m: on
// Lambda the API's Prometheus metrics have no one to scrape them, so the
// validator reports the same counts as EMF lines.
func CountUploads(u Uploader, m UploadMetrics) Uploader {
	return countingUploader{u, m}
}

type countingUploader struct {
	u Uploader
	m UploadMetrics
}

func (c countingUploader) Submit(ctx context.Context, up workflow.Upload) (*txpipe.FileStatus, bool, error) {
	st, created, err := c.u.Submit(ctx, up)
	switch {
	case err != nil:
		c.m.Upload(txpipe.UploadError)
	case st.Status == txpipe.StatusRejected:
		c.m.Upload(txpipe.UploadRejected)
		if created {
			c.m.RowsRejected(st.Rows)
		}
	case created:
		c.m.Upload(txpipe.UploadAccepted)
		c.m.RowsValidated(st.Rows)
	default:
		c.m.Upload(txpipe.UploadKnown)
	}
	return st, created, err
}
