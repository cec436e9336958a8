//go:build !linux && !windows

package capture

import (
	"context"
	"io"
)

func run(context.Context, io.Writer, Options, func(Stats)) (Stats, error) {
	return Stats{}, ErrUnavailable
}
