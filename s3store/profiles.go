package s3store

import (
	"context"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/txpipe/txpipe"
)

// ProfilePrefix is the prefix of the objects holding column-mapping
// profiles: the profile NAME is the object "profiles/NAME.yaml".
const ProfilePrefix = "profiles/"

// maxProfileBytes bounds what GetProfile reads of an object.
const maxProfileBytes = 1 << 20

type profileClient interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Profiles keeps column-mapping profiles as YAML objects in the files
// bucket, under ProfilePrefix (outside the uploads/ prefix its lifecycle
// rules apply to). Names are checked by the caller (profile.CheckName).
type Profiles struct {
	c      profileClient
	bucket string
}

// NewProfiles returns the profiles of bucket.
func NewProfiles(client *s3.Client, bucket string) *Profiles {
	return &Profiles{c: client, bucket: bucket}
}

func profileKey(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\\") || strings.Contains(name, "..") {
		return "", txpipe.Errorf(txpipe.EINVALID, "invalid profile name %q", name)
	}
	return ProfilePrefix + name + ".yaml", nil
}

// PutProfile stores the profile's YAML, replacing any, and reports whether
// it was new. (S3 has no insert-or-replace that says which: a concurrent
// put of the same name may both report new.)
func (p *Profiles) PutProfile(ctx context.Context, sp txpipe.StoredProfile) (bool, error) {
	k, err := profileKey(sp.Name)
	if err != nil {
		return false, err
	}
	created := false
	if _, err := p.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(k)}); err != nil {
		e := translate(err, "head s3://%s/%s", p.bucket, k)
		if txpipe.ErrorCode(e) != txpipe.ENOTFOUND {
			return false, e
		}
		created = true
	}
	_, err = p.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(p.bucket), Key: aws.String(k), Body: strings.NewReader(sp.YAML),
		ContentType: aws.String("application/yaml"), ServerSideEncryption: types.ServerSideEncryptionAes256,
	})
	if err != nil {
		return false, translate(err, "put s3://%s/%s", p.bucket, k)
	}
	return created, nil
}

// GetProfile returns the profile named name, or an ENOTFOUND error.
func (p *Profiles) GetProfile(ctx context.Context, name string) (txpipe.StoredProfile, error) {
	sp := txpipe.StoredProfile{Name: name}
	k, err := profileKey(name)
	if err != nil {
		return sp, err
	}
	out, err := p.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(k)})
	if err != nil {
		e := translate(err, "get s3://%s/%s", p.bucket, k)
		if txpipe.ErrorCode(e) == txpipe.ENOTFOUND {
			return sp, txpipe.Errorf(txpipe.ENOTFOUND, "no profile named %q", name)
		}
		return sp, e
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxProfileBytes))
	if err != nil {
		return sp, translate(err, "read s3://%s/%s", p.bucket, k)
	}
	sp.YAML = string(b)
	if out.LastModified != nil {
		sp.UpdatedAt = out.LastModified.UTC()
	}
	return sp, nil
}

// DeleteProfile removes the profile named name, or fails with ENOTFOUND.
func (p *Profiles) DeleteProfile(ctx context.Context, name string) error {
	k, err := profileKey(name)
	if err != nil {
		return err
	}
	if _, err := p.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(k)}); err != nil {
		e := translate(err, "head s3://%s/%s", p.bucket, k)
		if txpipe.ErrorCode(e) == txpipe.ENOTFOUND {
			return txpipe.Errorf(txpipe.ENOTFOUND, "no profile named %q", name)
		}
		return e
	}
	if _, err := p.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(k)}); err != nil {
		return translate(err, "delete s3://%s/%s", p.bucket, k)
	}
	return nil
}

// ListProfiles returns the stored profiles by name, without their YAML.
func (p *Profiles) ListProfiles(ctx context.Context) ([]txpipe.StoredProfile, error) {
	out := []txpipe.StoredProfile{}
	pg := s3.NewListObjectsV2Paginator(p.c, &s3.ListObjectsV2Input{Bucket: aws.String(p.bucket), Prefix: aws.String(ProfilePrefix)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, translate(err, "list s3://%s/%s", p.bucket, ProfilePrefix)
		}
		for _, o := range page.Contents {
			name, ok := strings.CutSuffix(strings.TrimPrefix(aws.ToString(o.Key), ProfilePrefix), ".yaml")
			if !ok || strings.Contains(name, "/") {
				continue
			}
			sp := txpipe.StoredProfile{Name: name}
			if o.LastModified != nil {
				sp.UpdatedAt = o.LastModified.UTC()
			}
			out = append(out, sp)
		}
	}
	return out, nil
}
