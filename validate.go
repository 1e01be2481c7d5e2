package filelock

import "unicode/utf8"

// Identifier limits of SPEC §2.
const (
	MaxProjectIDLen = 128
	MaxFileLen      = 1024
	MaxUserLen      = 256
)

// ValidateProjectID reports an invalid_request *Error (field "project_id")
// unless id is 1–128 characters of A-Z a-z 0-9 . _ -.
func ValidateProjectID(id string) error {
	if id == "" || len(id) > MaxProjectIDLen {
		return FieldError("project_id", "project_id must be 1-%d characters", MaxProjectIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return FieldError("project_id", "project_id may only contain A-Z a-z 0-9 . _ -")
		}
	}
	return nil
}

// ValidateFile reports an invalid_request *Error (field "file") unless name
// is 1–1024 bytes of valid UTF-8 without control characters and is not "." or "..".
func ValidateFile(name string) error {
	if name == "" || len(name) > MaxFileLen {
		return FieldError("file", "file must be 1-%d bytes", MaxFileLen)
	}
	if name == "." || name == ".." {
		return FieldError("file", "file must not be . or ..")
	}
	if !cleanText(name) {
		return FieldError("file", "file must be valid UTF-8 without control characters")
	}
	return nil
}

// ValidateUser reports an invalid_request *Error naming field unless user is
// 1–256 bytes of valid UTF-8 without control characters.
func ValidateUser(field, user string) error {
	if user == "" || len(user) > MaxUserLen {
		return FieldError(field, "%s must be 1-%d bytes", field, MaxUserLen)
	}
	if !cleanText(user) {
		return FieldError(field, "%s must be valid UTF-8 without control characters", field)
	}
	return nil
}

func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
