package audit

import (
	"math"
	"strconv"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
)

// Bounds on what the report keeps, whatever the length of the history.
const (
	timelineHead = 50  // first timeline rows kept
	timelineTail = 450 // last timeline rows kept
	maxGroups    = 200 // distinct violation groups listed
	maxKept      = 120 // chart points kept while reading
	maxPlotted   = 60  // chart points drawn
)

// row is one line of the timeline.
type row struct {
	at                    time.Time
	event, detail, result string
}

// timeline keeps the first timelineHead rows and, in a ring, the last
// timelineTail; the rows between are only counted.
type timeline struct {
	head  []row
	tail  []row
	next  int // oldest entry of tail once it is full
	total int
}

func (t *timeline) add(r row) {
	t.total++
	switch {
	case len(t.head) < timelineHead:
		t.head = append(t.head, r)
	case len(t.tail) < timelineTail:
		t.tail = append(t.tail, r)
	default:
		t.tail[t.next] = r
		t.next = (t.next + 1) % timelineTail
	}
}

// rows returns the kept rows in order and how many were folded between them.
func (t *timeline) rows() (head []row, folded int, tail []row) {
	tail = append(append([]row(nil), t.tail[t.next:]...), t.tail[:t.next]...)
	return t.head, t.total - len(t.head) - len(t.tail), tail
}

// group folds the violations of one rule of one policy domain.
type group struct {
	domain, rule   string
	count          int
	first, last    time.Time
	message, limit string // the latest
	minObs, maxObs float64
	numeric        bool // at least one observed value was a number
}

// groups folds violations by domain and rule, listing at most maxGroups.
type groups struct {
	list     []group
	index    map[string]int
	unlisted int // violations of rules past the first maxGroups
	total    int
}

func (g *groups) add(at time.Time, domain string, v history.Violation) {
	g.total++
	key := domain + "\x00" + v.Rule
	i, ok := g.index[key]
	if !ok {
		if len(g.list) == maxGroups {
			g.unlisted++
			return
		}
		if g.index == nil {
			g.index = map[string]int{}
		}
		i = len(g.list)
		g.index[key] = i
		g.list = append(g.list, group{domain: domain, rule: v.Rule, first: at})
	}
	gr := &g.list[i]
	gr.count++
	gr.last = at
	gr.message = v.Message
	gr.limit = formatValue(v.Limit)
	if obs, ok := v.Observed.(float64); ok {
		if !gr.numeric || obs < gr.minObs {
			gr.minObs = obs
		}
		if !gr.numeric || obs > gr.maxObs {
			gr.maxObs = obs
		}
		gr.numeric = true
	}
}

// observed renders the range of observed values.
func (gr group) observed() string {
	if !gr.numeric {
		return ""
	}
	if gr.minObs == gr.maxObs {
		return number(gr.minObs)
	}
	return number(gr.minObs) + " – " + number(gr.maxObs)
}

// point is one chart bucket: the worst values of n consecutive windows.
type point struct {
	at        time.Time // of the first window in the bucket
	errorRate float64
	p99       float64
	n         int
}

// series downsamples an unknown number of windows in fixed memory: each bucket
// holds span windows, and when maxKept buckets are full, neighbours merge and
// span doubles. Buckets keep maxima so that a spike is never averaged away.
type series struct {
	points    []point
	span      int
	total     int
	noTraffic int
}

func (s *series) add(at time.Time, errorRate, p99 float64) {
	s.total++
	if len(s.points) == maxKept && s.points[maxKept-1].n == s.span {
		s.points = mergePairs(s.points)
		s.span *= 2
	}
	if k := len(s.points); k > 0 && s.points[k-1].n < s.span {
		s.points[k-1] = merge(s.points[k-1], point{errorRate: errorRate, p99: p99, n: 1})
		return
	}
	s.points = append(s.points, point{at: at, errorRate: errorRate, p99: p99, n: 1})
}

// plotted returns at most maxPlotted points.
func (s *series) plotted() []point {
	pts := s.points
	for len(pts) > maxPlotted {
		pts = mergePairs(append([]point(nil), pts...))
	}
	return pts
}

// mergePairs merges neighbouring points in place.
func mergePairs(pts []point) []point {
	out := pts[:0]
	for i := 0; i < len(pts); i += 2 {
		p := pts[i]
		if i+1 < len(pts) {
			p = merge(p, pts[i+1])
		}
		out = append(out, p)
	}
	return out
}

func merge(a, b point) point {
	return point{at: a.at, errorRate: max(a.errorRate, b.errorRate), p99: max(a.p99, b.p99), n: a.n + b.n}
}

// number prints a float with at most two decimals and no trailing zeros.
func number(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}
