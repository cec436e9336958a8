//go:build !unix

package minisign

// openNonBlock is not needed where FIFOs are not files.
const openNonBlock = 0
