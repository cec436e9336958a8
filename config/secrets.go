package config

import "reflect"

// Secrets returns the values of every Secret field of the configuration
// (API and SMTP passwords, ...), found by type so a Secret added later is
// included without a change here. The redactor matches these values
// wherever they appear in what leaves the host.
func (c *Config) Secrets() []string {
	if c == nil {
		return nil
	}
	var out []string
	collectSecrets(reflect.ValueOf(c).Elem(), &out)
	return out
}

var secretType = reflect.TypeFor[Secret]()

func collectSecrets(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		if v.Type() == secretType && v.Len() > 0 {
			*out = append(*out, v.String())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			collectSecrets(v.Field(i), out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectSecrets(v.Elem(), out)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collectSecrets(v.Index(i), out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			collectSecrets(it.Value(), out)
		}
	}
}
