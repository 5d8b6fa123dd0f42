package main

import (
	"strings"
	"testing"
)

// TestUploadFlow: the bucket sends its events to EventBridge, lets browser
// pages of the configured origin PUT, expires unclaimed uploads and aborts
// incomplete multipart uploads after a day; a rule starts the validator on
// objects under incoming/ of this bucket, another hands executions that
// failed, timed out or were aborted to the notifier.
func TestUploadFlow(t *testing.T) {
	s := synth(t, "dev")
	for _, b := range s.ofType("AWS::S3::Bucket") {
		p := b.Properties
		if got := render(p["NotificationConfiguration"]); got != `{"EventBridgeConfiguration":{"EventBridgeEnabled":true}}` {
			t.Errorf("NotificationConfiguration = %s, want EventBridge enabled", got)
		}
		cors := render(p["CorsConfiguration"])
		for _, want := range []string{`"AllowedMethods":["PUT"]`, `"AllowedOrigins":["http://localhost:8080"]`, `x-amz-checksum-sha256`} {
			if !strings.Contains(cors, want) {
				t.Errorf("CorsConfiguration %s lacks %s", cors, want)
			}
		}
		rules := render(p["LifecycleConfiguration"])
		if !strings.Contains(rules, `{"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1},"ExpirationInDays":1,"Id":"unclaimed-uploads","Prefix":"incoming/","Status":"Enabled"}`) {
			t.Errorf("lifecycle %s: want incoming/ expired and multipart uploads aborted after a day", rules)
		}
	}
	var arrived, failed bool
	for id, r := range s.ofType("AWS::Events::Rule") {
		p := r.Properties
		pattern, targets := render(p["EventPattern"]), render(p["Targets"])
		switch {
		case strings.Contains(pattern, `"source":["aws.s3"]`):
			arrived = true
			for _, want := range []string{`"detail-type":["Object Created"]`, `"name":["<UploadsBucket>"]`, `"key":[{"prefix":"incoming/"}]`} {
				if !strings.Contains(pattern, want) {
					t.Errorf("%s: pattern %s lacks %s", id, pattern, want)
				}
			}
			if !strings.Contains(targets, "<Validator.Arn>") || !strings.Contains(targets, "DeadLetterQueue") {
				t.Errorf("%s: targets %s, want the validator with the dead-letter queue", id, targets)
			}
		case strings.Contains(pattern, `"source":["aws.states"]`):
			failed = true
			for _, want := range []string{`"detail-type":["Step Functions Execution Status Change"]`, `"status":["FAILED","TIMED_OUT","ABORTED"]`, `stateMachine:txpipe-dev`} {
				if !strings.Contains(pattern, want) {
					t.Errorf("%s: pattern %s lacks %s", id, pattern, want)
				}
			}
			if !strings.Contains(targets, "<Notifier.Arn>") {
				t.Errorf("%s: targets %s, want the notifier", id, targets)
			}
		}
	}
	if !arrived || !failed {
		t.Errorf("rules: upload arrived %v, execution failed %v; want both", arrived, failed)
	}
}
