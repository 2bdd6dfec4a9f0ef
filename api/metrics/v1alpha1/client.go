package v1alpha1

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
)

// Client reads and writes NodeUsages over the API (JSON). Safe for
// concurrent use.
type Client struct {
	rest rest.Interface
}

// NewForConfig returns a Client for the API cfg reaches; cfg is copied.
func NewForConfig(cfg *rest.Config) (*Client, error) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		return nil, fmt.Errorf("metrics.kelson.dev client: %w", err)
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &SchemeGroupVersion
	c.APIPath = "/apis"
	c.ContentType = runtime.ContentTypeJSON
	c.AcceptContentTypes = runtime.ContentTypeJSON
	c.NegotiatedSerializer = serializer.NewCodecFactory(s).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("metrics.kelson.dev client: %w", err)
	}
	return &Client{rest: rc}, nil
}

// Get reads the report of one node.
func (c *Client) Get(ctx context.Context, name string) (*NodeUsage, error) {
	out := &NodeUsage{}
	err := c.rest.Get().Resource(Resource).Name(name).Do(ctx).Into(out)
	return out, err
}

// List reads the reports of every node (opts: selectors, limit...).
func (c *Client) List(ctx context.Context, opts metav1.ListOptions) (*NodeUsageList, error) {
	out := &NodeUsageList{}
	err := c.rest.Get().Resource(Resource).VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Into(out)
	return out, err
}

// Create writes a new report.
func (c *Client) Create(ctx context.Context, u *NodeUsage) (*NodeUsage, error) {
	out := &NodeUsage{}
	err := c.rest.Post().Resource(Resource).Body(u).Do(ctx).Into(out)
	return out, err
}

// Update replaces a report; with metadata.resourceVersion empty the
// replace is unconditional.
func (c *Client) Update(ctx context.Context, u *NodeUsage) (*NodeUsage, error) {
	out := &NodeUsage{}
	err := c.rest.Put().Resource(Resource).Name(u.Name).Body(u).Do(ctx).Into(out)
	return out, err
}

// Delete deletes a report.
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.rest.Delete().Resource(Resource).Name(name).Do(ctx).Error()
}

// Report writes u as its node's current report, whatever was there: an
// unconditional update, or a create when there is none yet. u is not
// modified. This is what a node agent calls every period.
func (c *Client) Report(ctx context.Context, u *NodeUsage) (*NodeUsage, error) {
	u = u.DeepCopy()
	u.APIVersion, u.Kind = SchemeGroupVersion.String(), "NodeUsage"
	u.ResourceVersion = ""
	for attempt := 0; ; attempt++ {
		out, err := c.Update(ctx, u)
		if !apierrors.IsNotFound(err) {
			return out, err
		}
		out, err = c.Create(ctx, u)
		if !apierrors.IsAlreadyExists(err) || attempt > 2 {
			return out, err
		}
	}
}
