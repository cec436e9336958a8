package bundle

import (
	"io"
	"runtime"

	"github.com/klauspost/pgzip"
)

// Gzip settings of tar.gz bundles; docs/benchmarks.md has the measurements
// behind them (bench/bundle.sh, bench/complevels).
//
// klauspost's deflate levels are not zlib's: on PBX logs its level 6 gives
// a 2% larger file than gzip -6 (what `tar czf` uses) for less than a third
// of gzip's CPU; level 8 is 3% smaller but takes 2.6 times the CPU of
// level 6. A bundle is often made on a busy phone system, so the agent
// takes the CPU saving and accepts the 2%.
const gzipLevel = 6

// gzipBlock is the size of the blocks compressed in parallel. Each block
// starts with the previous block's last 32 KiB as its dictionary, so the
// split costs under 0.1% of size against 1 MiB blocks while halving the
// memory held per block.
const gzipBlock = 512 << 10

// gzipMaxBlocks caps the blocks in flight whatever the core count: each
// holds its input, its output and a compressor (about 2 MiB with
// 512 KiB blocks), so memory stays far below 64 MiB on large hosts too.
const gzipMaxBlocks = 8

// newGzipWriter compresses in parallel blocks on all cores (up to
// gzipMaxBlocks); the output is an ordinary single-member gzip stream that
// gzip and tar read.
func newGzipWriter(w io.Writer) (io.WriteCloser, error) {
	zw, err := pgzip.NewWriterLevel(w, gzipLevel)
	if err != nil {
		return nil, err
	}
	// Two blocks per core: one compressing while the other is filled or
	// waits for its turn to be written.
	blocks := min(2*runtime.GOMAXPROCS(0), gzipMaxBlocks)
	if err := zw.SetConcurrency(gzipBlock, blocks); err != nil {
		return nil, err
	}
	return zw, nil
}
