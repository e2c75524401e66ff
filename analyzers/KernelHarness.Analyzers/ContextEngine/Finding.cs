using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>A finding of the shared engine, to be reported by the rule that owns <see cref="Id"/>.</summary>
internal sealed record Finding(
    string Id,
    Location Location,
    ImmutableArray<Location> Additional,
    ImmutableArray<string> Args,
    ImmutableDictionary<string, string?> Properties)
{
    public static Finding Create(string id, Location location, ImmutableArray<Location> additional, params string[] args)
        => new(id, location, additional, args.ToImmutableArray(), ImmutableDictionary<string, string?>.Empty);

    public Diagnostic ToDiagnostic(DiagnosticDescriptor descriptor)
        => Diagnostic.Create(descriptor, Location, Additional, Properties, Args.ToArray());
}
