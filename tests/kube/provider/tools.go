//go:build tools

// Package tools pins the provider module that tests/kube/build compiles; nothing imports it.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)
