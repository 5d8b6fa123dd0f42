//go:build !unix

package sqlite

func allocGroupBlocks(n int) (blocks [][groupSize][8]uint32, free func()) {
	return make([][groupSize][8]uint32, n), func() {}
}
