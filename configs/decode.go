package configs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// decode stores raw (a value from YAML, or a string from the environment
// or a flag) into target, or says why it cannot.
func decode(target, raw any) error {
	switch t := target.(type) {
	case *string:
		switch r := raw.(type) {
		case nil:
			*t = ""
		case string:
			*t = r
		case int, int64, float64, bool:
			*t = fmt.Sprint(r)
		default:
			return fmt.Errorf("%v is not a string", raw)
		}
	case *time.Duration:
		s, ok := raw.(string)
		if !ok {
			return fmt.Errorf("%v is not a duration (write it with a unit, e.g. 10s)", raw)
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration", s)
		}
		*t = d
	case *int:
		n, err := toInt(raw)
		if err != nil {
			return err
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			return fmt.Errorf("%d is out of range", n)
		}
		*t = int(n)
	case *int64:
		n, err := toInt(raw)
		if err != nil {
			return err
		}
		*t = n
	case *float64:
		switch r := raw.(type) {
		case int:
			*t = float64(r)
		case int64:
			*t = float64(r)
		case float64:
			*t = r
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("%q is not a number", r)
			}
			*t = f
		default:
			return fmt.Errorf("%v is not a number", raw)
		}
	case *[]string:
		list := []string{}
		switch r := raw.(type) {
		case nil:
		case string: // environment and flags: comma-separated
			for _, s := range strings.Split(r, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
		case []any:
			for _, x := range r {
				s, ok := x.(string)
				if !ok {
					return fmt.Errorf("%v is not a string", x)
				}
				list = append(list, s)
			}
		case []string:
			list = append(list, r...)
		default:
			return fmt.Errorf("%v is not a list", raw)
		}
		*t = list
	default:
		panic(fmt.Sprintf("configs: no decoder for %T", target))
	}
	return nil
}

func toInt(raw any) (int64, error) {
	switch r := raw.(type) {
	case int:
		return int64(r), nil
	case int64:
		return r, nil
	case uint64:
		if r > math.MaxInt64 {
			return 0, fmt.Errorf("%d is out of range", r)
		}
		return int64(r), nil
	case float64:
		if r != math.Trunc(r) || math.Abs(r) > 1<<53 {
			return 0, fmt.Errorf("%v is not an integer", r)
		}
		return int64(r), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(r), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", r)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%v is not an integer", raw)
	}
}
