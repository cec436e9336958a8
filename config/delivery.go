package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Delivery says how bundles leave the host: encrypted to whom, uploaded
// where, and how many are kept in the output folder.
type Delivery struct {
	// EncryptTo lists age recipients (age1... or SSH public keys, or files
	// of them); bundles are encrypted to every one of them.
	EncryptTo []string `yaml:"encrypt_to"`
	// RequireEncryption refuses to write a plaintext bundle.
	RequireEncryption bool `yaml:"require_encryption"`
	// Upload is the S3-compatible object storage bundles go to.
	Upload Upload `yaml:"upload"`
	// Retention bounds the bundles kept in the output folder.
	Retention Retention `yaml:"retention"`
}

// Upload is an S3-compatible bucket. The access and secret keys may also
// come from PBXAGENT_S3_ACCESS_KEY / PBXAGENT_S3_SECRET_KEY or
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
type Upload struct {
	// Endpoint is the server's URL, e.g. https://s3.eu-west-1.amazonaws.com.
	Endpoint  string `yaml:"endpoint"`
	Bucket    string `yaml:"bucket"`
	Region    string `yaml:"region"`
	AccessKey Secret `yaml:"access_key"`
	SecretKey Secret `yaml:"secret_key"`
	// CAFile is a PEM file of authorities trusted besides the system's.
	CAFile string `yaml:"ca_file"`
	// Case is the default support case ID (the object name's first part).
	Case string `yaml:"case"`
	// PartSize is the multipart part size (5MiB to 5GiB).
	PartSize ByteSize `yaml:"part_size"`
	// LimitRate caps the upload's bandwidth in bytes per second; 0 = none.
	LimitRate ByteSize `yaml:"limit_rate"`
	// Parallel is how many parts are sent at once (1 to 16); memory is
	// at most Parallel × PartSize.
	Parallel int `yaml:"parallel"`
	// Retries is how many times a failed part is retried, with backoff.
	Retries int `yaml:"retries"`
	// Auto uploads every bundle right after it is written.
	Auto bool `yaml:"auto"`
}

// Retention bounds the bundles kept in the output folder; the oldest go
// first. Zero disables a limit.
type Retention struct {
	MaxTotalSize ByteSize `yaml:"max_total_size"`
	MaxAge       Duration `yaml:"max_age"`
}

func defaultDelivery() Delivery {
	return Delivery{
		Upload:    Upload{PartSize: 16 * MiB, Parallel: 4, Retries: 5},
		Retention: Retention{MaxTotalSize: 5 * GiB, MaxAge: Duration(30 * 24 * time.Hour)},
	}
}

func (d Delivery) validate(add func(key, format string, args ...any)) {
	for i, r := range d.EncryptTo {
		if strings.TrimSpace(r) == "" {
			add(fmt.Sprintf("delivery.encrypt_to[%d]", i), "is empty; give an age public key (age1...), an SSH public key or a file of them")
		}
	}
	u := d.Upload
	if u.Endpoint != "" {
		p, err := url.Parse(u.Endpoint)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			add("delivery.upload.endpoint", "must be a URL such as https://s3.example.com, not %q", u.Endpoint)
		}
		if u.Bucket == "" {
			add("delivery.upload.bucket", "must be set when delivery.upload.endpoint is")
		}
	}
	if u.PartSize < 5*MiB || u.PartSize > 5*GiB {
		add("delivery.upload.part_size", "must be from 5MiB to 5GiB (S3's limits), not %s", u.PartSize)
	}
	if u.LimitRate < 0 {
		add("delivery.upload.limit_rate", "must not be negative; 0 means no limit")
	}
	if u.Parallel < 1 || u.Parallel > 16 {
		add("delivery.upload.parallel", "must be from 1 to 16 parts at once, not %d", u.Parallel)
	}
	if u.Retries < 0 || u.Retries > 100 {
		add("delivery.upload.retries", "must be from 0 to 100, not %d", u.Retries)
	}
	if d.Retention.MaxTotalSize < 0 {
		add("delivery.retention.max_total_size", "must not be negative; 0 means no limit")
	}
	if d.Retention.MaxAge < 0 {
		add("delivery.retention.max_age", "must not be negative; 0 means no limit")
	}
}
