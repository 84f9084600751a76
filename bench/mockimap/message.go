package mockimap

import (
	"io"
	"strconv"
)

// The one message in every INBOX: a marker that names the backend, padded
// with lines of filler to Config.MessageSize so the bench can stream bulk
// data. The filler is never held in full: it is written from one block.

const (
	padLine   = "switchyard mockimap bulk filler abcdefghijklmnopqrstuvwxyz 0123456789 ABCDEF\r\n"
	padBlockN = 840 // lines per block: 840*78 = 65520 bytes
)

var padBlock = func() []byte {
	b := make([]byte, 0, len(padLine)*padBlockN)
	for i := 0; i < padBlockN; i++ {
		b = append(b, padLine...)
	}
	return b
}()

type message struct {
	header []byte // ends with the blank line
	first  []byte // "backend=<name>\r\n"
	padLen int64  // filler bytes after first (0 or >= 2; the last two are CRLF)
}

func newMessage(name string, size int) *message {
	m := &message{
		header: []byte("From: mockimap <mockimap@" + name + ".invalid>\r\n" +
			"To: <user@example.invalid>\r\n" +
			"Subject: Marker: you are on " + name + "\r\n" +
			"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n" +
			"Message-ID: <marker." + name + "@mockimap.invalid>\r\n" +
			"MIME-Version: 1.0\r\n" +
			"Content-Type: text/plain; charset=us-ascii\r\n" +
			"\r\n"),
		first: []byte("backend=" + name + "\r\n"),
	}
	base := int64(len(m.header) + len(m.first))
	if int64(size) > base {
		m.padLen = int64(size) - base
		if m.padLen < 2 {
			m.padLen = 2
		}
		// Never cut a filler line between its CR and LF.
		if (m.padLen-2)%int64(len(padLine)) == int64(len(padLine))-1 {
			m.padLen++
		}
	}
	return m
}

func (m *message) size() int64     { return int64(len(m.header)) + m.textSize() }
func (m *message) textSize() int64 { return int64(len(m.first)) + m.padLen }

// section is a byte range of the message: the whole of it, its header or its
// text.
type section struct {
	off, n int64
}

// writeRange writes bytes [off, off+n) of the message.
func (m *message) writeRange(w io.Writer, off, n int64) error {
	parts := [2][]byte{m.header, m.first}
	for _, p := range parts {
		if n <= 0 {
			return nil
		}
		pl := int64(len(p))
		if off >= pl {
			off -= pl
			continue
		}
		k := min(n, pl-off)
		if _, err := w.Write(p[off : off+k]); err != nil {
			return err
		}
		off, n = 0, n-k
	}
	// Filler: whole lines from padBlock, then a CRLF to end the last line.
	body := m.padLen - 2
	for n > 0 && off < body {
		bo := off % int64(len(padBlock))
		k := min(n, body-off, int64(len(padBlock))-bo)
		if _, err := w.Write(padBlock[bo : bo+k]); err != nil {
			return err
		}
		off += k
		n -= k
	}
	if n > 0 && m.padLen >= 2 {
		t := off - body
		k := min(n, 2-t)
		if _, err := w.Write([]byte("\r\n")[t : t+k]); err != nil {
			return err
		}
	}
	return nil
}

func appendLiteralHead(b []byte, n int64) []byte {
	b = append(b, '{')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '}', '\r', '\n')
}
