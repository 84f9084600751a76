// Package sqlparams counts the parameters of an SQL query, for the
// configuration's check of [mapping.sql] queries and for the SQL store
// that runs them: one count, so both agree on what a query takes.
package sqlparams

import "strconv"

// Count counts a query's parameters: the highest $n for PostgreSQL (pg),
// the question marks otherwise, outside quotes either way.
func Count(q string, pg bool) int {
	n, quote := 0, byte(0)
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case pg && c == '$':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if k, err := strconv.Atoi(q[i+1 : j]); err == nil && k > n {
				n = k
			}
		case !pg && c == '?':
			n++
		}
	}
	return n
}
