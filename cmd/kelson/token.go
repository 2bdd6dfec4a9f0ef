package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const tokenLong = `Manage bootstrap tokens: the tokens other machines join the cluster with
("kelson agent --server URL --token TOKEN"), as Kubernetes' bootstrap tokens —
Secrets kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token.

"create" prints the token to give to the agent: K10<the cluster CA's hash>::<id>.<secret>.
An expired or deleted token no longer joins (nodes that joined with it keep
their certificates); the server deletes expired tokens' Secrets.

The commands talk to the API through --kubeconfig, else $KUBECONFIG, else
./default.kelson/admin.kubeconfig (what "kelson server" writes), else
~/.kube/config.`

const tokenExample = `  # a token that joins for a day
  kelson token create --description "rack 4"
  kelson agent --server https://192.168.1.10:6443 --token K10...::abc123.0123456789abcdef

  kelson token list
  kelson token delete abc123`

// tokenFlags are the flags every `kelson token` command takes.
type tokenFlags struct {
	kubeconfig string
}

// client builds the API client from the kubeconfig and returns it with
// the cluster CA's PEM.
func (f *tokenFlags) client() (kubernetes.Interface, []byte, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	where := f.kubeconfig
	if where == "" && os.Getenv("KUBECONFIG") == "" {
		def := filepath.Join("default.kelson", "admin.kubeconfig")
		if _, err := os.Stat(def); err == nil {
			rules.ExplicitPath, where = def, def
		}
	}
	if where == "" {
		where = "$KUBECONFIG or ~/.kube/config"
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, nil, usagef("kubeconfig %s: %v; point --kubeconfig at the file a kelson server writes (DATA_DIR/admin.kubeconfig)", where, err)
	}
	ca, err := kubeconfigCA(rc)
	if err != nil {
		return nil, nil, usagef("kubeconfig %s: %v", where, err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, err
	}
	return client, ca, nil
}

// kubeconfigCA is the CA a kubeconfig trusts, in PEM.
func kubeconfigCA(rc *rest.Config) ([]byte, error) {
	if len(rc.CAData) > 0 {
		return rc.CAData, nil
	}
	if rc.CAFile != "" {
		b, err := os.ReadFile(rc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("its certificate-authority: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("it names no certificate-authority, so the join token cannot carry the cluster CA's hash")
}

func newTokenCommand() *cobra.Command {
	var tf tokenFlags
	cmd := &cobra.Command{
		Use:     "token",
		Short:   "Create, list and delete bootstrap tokens that agents join with",
		Long:    tokenLong,
		Example: tokenExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for \"kelson token\": create, list or delete", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&tf.kubeconfig, "kubeconfig", "", "kubeconfig of the API (default $KUBECONFIG, then ./default.kelson/admin.kubeconfig, then ~/.kube/config)")
	cmd.AddCommand(newTokenCreateCommand(&tf), newTokenListCommand(&tf), newTokenDeleteCommand(&tf))
	return cmd
}

func noArgs(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("%s takes no arguments, got %q", what, args)
		}
		return nil
	}
}

func newTokenCreateCommand(tf *tokenFlags) *cobra.Command {
	var (
		ttl         time.Duration
		description string
		groups      []string
	)
	cmd := &cobra.Command{
		Use:   "create [flags]",
		Short: "Create a bootstrap token and print it (K10<CA hash>::<id>.<secret>)",
		Args:  noArgs("kelson token create"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl < 0 {
				return usagef("--ttl %v: want a duration like 24h, or 0 for a token that never expires", ttl)
			}
			for _, g := range groups {
				if err := bootstraptoken.CheckExtraGroup(g); err != nil {
					return usagef("--groups: %v", err)
				}
			}
			client, ca, err := tf.client()
			if err != nil {
				return err
			}
			tok, err := createToken(cmd.Context(), client, bootstraptoken.Options{TTL: ttl, Description: description, ExtraGroups: groups})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "K10%s::%s\n", caHashOf(ca), tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token joins (0: never expires)")
	f.StringVar(&description, "description", "", "what the token is for, shown by kelson token list")
	f.StringSliceVar(&groups, "groups", nil, "more groups of the token's user, each system:bootstrappers:<name> (comma-separated or repeated)")
	return cmd
}

// createToken makes a token and its Secret (a new token if the ID is
// taken).
func createToken(ctx context.Context, client kubernetes.Interface, o bootstraptoken.Options) (bootstraptoken.Token, error) {
	for range 3 {
		tok, err := bootstraptoken.Generate()
		if err != nil {
			return tok, err
		}
		o.Now = time.Now()
		sec, err := bootstraptoken.Secret(tok, o)
		if err != nil {
			return tok, usageError{err}
		}
		_, err = client.CoreV1().Secrets(bootstraptoken.Namespace).Create(ctx, sec, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return tok, fmt.Errorf("create the token's Secret %s/%s: %w", sec.Namespace, sec.Name, err)
		}
		return tok, nil
	}
	return bootstraptoken.Token{}, fmt.Errorf("create a bootstrap token: three random IDs were taken; retry")
}

func newTokenListCommand(tf *tokenFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the bootstrap tokens (IDs, not secrets)",
		Args:  noArgs("kelson token list"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, _, err := tf.client()
			if err != nil {
				return err
			}
			list, err := client.CoreV1().Secrets(bootstraptoken.Namespace).List(cmd.Context(), metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector("type", string(bootstraptoken.SecretType)).String()})
			if err != nil {
				return fmt.Errorf("list the bootstrap token Secrets: %w", err)
			}
			var infos []bootstraptoken.Info
			for i := range list.Items {
				s := &list.Items[i]
				if s.Type != bootstraptoken.SecretType {
					continue // a server that ignores the field selector
				}
				in, err := bootstraptoken.Read(s)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "kelson token list: skipping %s: %v\n", s.Name, err)
					continue
				}
				infos = append(infos, in)
			}
			return printTokens(cmd.OutOrStdout(), infos, time.Now())
		},
	}
}

// printTokens writes the table of `kelson token list`.
func printTokens(out io.Writer, infos []bootstraptoken.Info, now time.Time) error {
	slices.SortFunc(infos, func(a, b bootstraptoken.Info) int { return strings.Compare(a.ID, b.ID) })
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "ID\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS")
	for _, in := range infos {
		ttl, expires := "<forever>", "<never>"
		if !in.Expires.IsZero() {
			expires = in.Expires.UTC().Format(time.RFC3339)
			if in.Expired(now) {
				ttl = "<expired>"
			} else {
				ttl = in.Expires.Sub(now).Round(time.Second).String()
			}
		}
		desc := in.Description
		if desc == "" {
			desc = "<none>"
		}
		extra := strings.Join(in.ExtraGroups, ",")
		if extra == "" {
			extra = "<none>"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, ttl, expires, strings.Join(in.Usages, ","), desc, extra)
	}
	return w.Flush()
}

func newTokenDeleteCommand(tf *tokenFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID [ID...]",
		Short: "Delete bootstrap tokens by ID (or whole token); they no longer join",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("kelson token delete needs the ID of a token (see kelson token list)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var ids []string
			for _, a := range args {
				id := a
				if i := strings.LastIndex(a, "::"); i >= 0 {
					id = a[i+2:] // a whole K10...::<id>.<secret>
				}
				id, _, _ = strings.Cut(id, ".")
				if err := bootstraptoken.CheckID(id); err != nil {
					return usageError{err}
				}
				ids = append(ids, id)
			}
			client, _, err := tf.client()
			if err != nil {
				return err
			}
			for _, id := range ids {
				err := client.CoreV1().Secrets(bootstraptoken.Namespace).Delete(cmd.Context(), bootstraptoken.SecretPrefix+id, metav1.DeleteOptions{})
				if apierrors.IsNotFound(err) {
					return fmt.Errorf("bootstrap token %q not found (see kelson token list)", id)
				}
				if err != nil {
					return fmt.Errorf("delete bootstrap token %q: %w", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bootstrap token %q deleted\n", id)
			}
			return nil
		},
	}
}
