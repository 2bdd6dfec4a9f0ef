package main

import (
	"errors"

	"github.com/kelson-dev/kelson/controllers/scheduler"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const explainPodLong = `Explain where the scheduler puts a pod, node by node: every node's filter
results (the first failing filter is the one FailedScheduling counts; the
others follow on their own lines) and every feasible node's score from each
scorer, then the pod's last scheduling events (Scheduled, FailedScheduling,
Preempted).

The scheduler keeps no record of its decisions: the explanation runs the
scheduler's own decision function on the cluster as it is now, read through
the API (nodes, pods, namespaces, volumes, priority classes). For a pod that
is already bound it shows where the pod would go if it were pending now.`

const explainPodExample = `  kelson explain pod web-0
  kelson explain pod db-1 -n prod --kubeconfig admin.kubeconfig`

func newExplainCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain <kind> NAME [flags]",
		Short: "Explain the scheduler's decision for a pod",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown kind %q for \"kelson explain\"; want pod", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var kubeconfig, namespace string
	pod := &cobra.Command{
		Use:     "pod NAME",
		Short:   "Explain the scheduler's decision for a pod: every node's filters and scores",
		Long:    explainPodLong,
		Example: explainPodExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("kelson explain pod takes one argument, the pod's name (got %d)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
			cfg, err := cc.ClientConfig()
			if err != nil {
				if clientcmd.IsEmptyConfig(err) || errors.Is(err, clientcmd.ErrEmptyConfig) {
					return usagef("no kubeconfig: pass --kubeconfig, set $KUBECONFIG or write ~/.kube/config")
				}
				return usagef("kubeconfig: %v", err)
			}
			if namespace == "" {
				if namespace, _, err = cc.Namespace(); err != nil || namespace == "" {
					namespace = "default"
				}
			}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			return scheduler.Explain(cmd.Context(), client, namespace, args[0], cmd.OutOrStdout(), scheduler.ExplainOptions{})
		},
	}
	f := pod.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig naming the API server (default $KUBECONFIG, then ~/.kube/config)")
	f.StringVarP(&namespace, "namespace", "n", "", "the pod's namespace (default the kubeconfig context's, else \"default\")")
	cmd.AddCommand(pod)
	return cmd
}
