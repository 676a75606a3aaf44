package history

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// chunkSize is how much of the history is read at a time; a chunk handed to a
// parsing goroutine holds the whole lines of one read, and a line longer than a
// read is carried into the next one.
const chunkSize = 256 << 10

// EachDecoded reads the history in r as a Reader does, NextRaw after NextRaw,
// parsing and decoding its lines on workers goroutines at once: each worker
// calls newDecode once for the function that turns its lines into what fn
// needs (a payload struct, read with a Decoder of its own). fn receives every
// valid line and what it decoded to, in file order, on the caller's
// goroutine. Neither may keep raw after it returns; what decode returns is
// fn's. Memory stays bounded: a few chunks are in flight.
func EachDecoded[T any](r io.Reader, workers int, newDecode func() func(Raw) T, fn func(Raw, T)) (Summary, error) {
	return eachRaw(r, workers, chunkSize, newDecode, fn)
}

func eachRaw[T any](r io.Reader, workers, size int, newDecode func() func(Raw) T, fn func(Raw, T)) (Summary, error) {
	workers = max(workers, 1)
	var (
		work  = make(chan *chunk[T], workers)
		order = make(chan *chunk[T], 2*workers)
		pool  = sync.Pool{New: func() any { return &chunk[T]{} }}
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p chunkParser
			decode := newDecode()
			for c := range work {
				p.parse(&c.lines)
				for _, raw := range c.raws {
					c.values = append(c.values, decode(raw))
				}
				close(c.done)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(work)
		readErr <- split(r, size, func() *chunk[T] { return pool.Get().(*chunk[T]) }, func(c *chunk[T]) {
			c.done = make(chan struct{})
			order <- c
			work <- c
		})
	}()

	var sum Summary
	for c := range order {
		<-c.done
		for _, s := range c.skips {
			sum.add(s)
		}
		for i, raw := range c.raws {
			fn(raw, c.values[i])
		}
		c.reset()
		pool.Put(c)
	}
	wg.Wait()
	return sum, <-readErr
}

// chunk is a run of whole lines, what they hold once parsed and what they
// decoded to.
type chunk[T any] struct {
	lines
	values []T // one per raw
	done   chan struct{}
}

func (c *chunk[T]) reset() {
	c.lines.reset()
	clear(c.values) // what fn kept is its own; the pool keeps none of it alive
	c.values = c.values[:0]
}

// lines is a run of whole lines of the input and, once parsed, what they hold.
type lines struct {
	data      []byte
	firstLine int  // the number of the first line in data
	last      bool // data ends the input without a newline

	raws    []Raw
	skips   []Skip   // in file order: a chunk may start with lines skipped before its data
	members []member // every raw's members, one after the other
}

func (c *lines) reset() {
	c.data, c.raws, c.skips = c.data[:0], c.raws[:0], c.skips[:0]
	c.members = c.members[:0]
}

// split cuts the input into chunks of whole lines and hands each to send, in
// order, reading size bytes at a time. A line longer than MaxLine is not passed on but recorded as a skip of
// the next chunk, so that skips stay in file order.
func split[T any](r io.Reader, size int, get func() *chunk[T], send func(*chunk[T])) error {
	line := 1          // the number of the line that carry starts
	var carry []byte   // the start of a line that has not ended yet
	var pending []Skip // skips to report with the next chunk
	skipping := false  // inside a line longer than MaxLine, discarding it
	buf := make([]byte, size)
	for eof := false; !eof; {
		n, err := io.ReadFull(r, buf)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			eof = true
		case err != nil:
			return fmt.Errorf("history: read line %d: %w", line, err)
		}
		data := buf[:n]
		if skipping {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				continue
			}
			skipping, data = false, data[i+1:]
			line++
		}
		end := bytes.LastIndexByte(data, '\n') + 1
		if end == 0 && !eof {
			carry = append(carry, data...)
			if len(carry) > MaxLine+1 {
				pending = append(pending, Skip{Line: line, Reason: tooLongReason})
				carry, skipping = carry[:0], true
			}
			continue
		}
		c := get()
		c.firstLine = line
		c.skips = append(c.skips, pending...)
		pending = pending[:0]
		c.data = append(append(c.data, carry...), data[:end]...)
		carry = append(carry[:0], data[end:]...)
		if eof {
			c.data = append(c.data, carry...)
			c.last = len(c.data) > 0 && c.data[len(c.data)-1] != '\n'
			carry = carry[:0]
		}
		line += bytes.Count(c.data, []byte{'\n'})
		send(c)
	}
	if len(pending) > 0 {
		c := get()
		c.firstLine = line
		c.skips = append(c.skips, pending...)
		send(c)
	}
	return nil
}

// chunkParser parses chunks; each worker has its own.
type chunkParser struct {
	names names
}

func (p *chunkParser) parse(c *lines) {
	data := c.data
	for n := c.firstLine; len(data) > 0; n++ {
		l, limit := data, MaxLine+1 // the limit counts the newline, as Reader does
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
			limit--
		} else {
			data = nil
		}
		if len(l) > limit {
			c.skips = append(c.skips, Skip{Line: n, Reason: tooLongReason})
			continue
		}
		scratch := c.members[len(c.members):]
		raw, reason, ok := parseLine(l, n, c.last && len(data) == 0, scratch, p.names.intern)
		if !ok {
			if reason != "" {
				c.skips = append(c.skips, Skip{Line: n, Reason: reason})
			}
			continue
		}
		if len(raw.members) <= cap(scratch) {
			// The members went into the arena: keep them there.
			c.members = c.members[:len(c.members)+len(raw.members)]
		} else {
			// The arena was full and they were allocated: make a larger one for
			// the lines that follow; the raws parsed so far keep the old one.
			c.members = make([]member, 0, max(2*cap(c.members), 1024))
		}
		c.raws = append(c.raws, raw)
	}
}
