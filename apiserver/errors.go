package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusError is anything that carries a Kubernetes Status.
type statusError interface{ Status() metav1.Status }

// toStatus turns any error into the Status a client gets: API errors keep
// theirs; anything else is a 500 InternalError whose message names it.
func toStatus(err error) metav1.Status {
	var se statusError
	if errors.As(err, &se) {
		st := se.Status()
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		return st
	}
	return apierrors.NewInternalError(err).Status()
}

// badRequest is a 400 with a message.
func badRequest(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

// notAcceptable is a 406: no format of Accept can be produced.
func notAcceptable(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
		Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable, Message: msg}}
}

// unsupportedMediaType is a 415: the body's Content-Type is not read.
func unsupportedMediaType(contentType string) error {
	return unsupportedMediaTypeMsg(fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", contentType))
}

func unsupportedMediaTypeMsg(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
		Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType, Message: msg}}
}
