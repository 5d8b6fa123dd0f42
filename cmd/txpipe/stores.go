package main

import (
	"context"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// transactionStore is the transactions table as the server uses it.
type transactionStore interface {
	workflow.TransactionWriter
	ListTransactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error)
}

// stores are the adapters the pipeline runs on: embedded (SQLite, a
// folder, webhooks) or AWS (DynamoDB, S3, SNS, SQS).
type stores struct {
	Transactions transactionStore
	Statuses     workflow.StatusStore
	Files        workflow.FileStore
	Notifier     workflow.Notifier
	DeadLetters  workflow.DeadLetterQueue
	// Close releases what the stores hold; may be nil.
	Close func() error
}
