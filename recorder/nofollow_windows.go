//go:build windows

package recorder

const noFollow = 0
