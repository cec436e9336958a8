// Command s3tool prepares the upload benchmark's server: it creates a
// bucket, prints a pre-signed PUT URL, or prints an object's SHA-256, with
// minio-go. Credentials come from PBXAGENT_S3_ACCESS_KEY and
// PBXAGENT_S3_SECRET_KEY.
//
//	s3tool -endpoint 127.0.0.1:7070 mb BUCKET
//	s3tool -endpoint 127.0.0.1:7070 presign BUCKET KEY
//	s3tool -endpoint 127.0.0.1:7070 sha256 BUCKET KEY
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:7070", "server host:port (plain HTTP)")
	flag.Parse()
	if err := run(*endpoint, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "s3tool:", err)
		os.Exit(1)
	}
}

func run(endpoint string, args []string) error {
	c, err := minio.New(endpoint, &minio.Options{Region: "us-east-1",
		Creds: credentials.NewStaticV4(os.Getenv("PBXAGENT_S3_ACCESS_KEY"), os.Getenv("PBXAGENT_S3_SECRET_KEY"), "")})
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch {
	case len(args) == 2 && args[0] == "mb":
		return c.MakeBucket(ctx, args[1], minio.MakeBucketOptions{})
	case len(args) == 3 && args[0] == "presign":
		u, err := c.PresignedPutObject(ctx, args[1], args[2], time.Hour)
		if err != nil {
			return err
		}
		fmt.Println(u.String())
		return nil
	case len(args) == 3 && args[0] == "sha256":
		o, err := c.GetObject(ctx, args[1], args[2], minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer o.Close()
		h := sha256.New()
		if _, err := io.Copy(h, o); err != nil {
			return err
		}
		fmt.Println(hex.EncodeToString(h.Sum(nil)))
		return nil
	}
	return fmt.Errorf("usage: s3tool [-endpoint HOST:PORT] mb BUCKET | presign BUCKET KEY | sha256 BUCKET KEY")
}
