using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>A lock effect in the callee's frame (keys rooted at its <c>this</c> and parameters).</summary>
internal sealed record LockEffect(string Key, string Display, LockKind Kind, When When, string Api, string? FlagsKey, string? FlagsText, IMethodSymbol Acquirer);

/// <summary>What a method acquires (on which exits, tied to the return value) and releases: its lock summary.</summary>
internal sealed class LockSummary
{
    public static readonly LockSummary Empty = new(ImmutableArray<LockEffect>.Empty, ImmutableArray<LockEffect>.Empty);

    public LockSummary(ImmutableArray<LockEffect> acquires, ImmutableArray<LockEffect> releases)
    {
        Acquires = acquires;
        Releases = releases;
    }

    public ImmutableArray<LockEffect> Acquires { get; }
    public ImmutableArray<LockEffect> Releases { get; }
    public bool IsEmpty => Acquires.IsEmpty && Releases.IsEmpty;
}

/// <summary>An allocation whose gfp_t is GFP_ATOMIC-like (KH1003 candidate).</summary>
internal sealed record AtomicGfpSite(Location Location, string Api, string GfpText, bool AtomicOnSomePath, ImmutableDictionary<string, string?> Properties);

/// <summary>The result of the path-sensitive engine on one method, computed once per compilation.</summary>
internal sealed class MethodAnalysis
{
    public MethodAnalysis(IMethodSymbol method, ImmutableArray<Finding> findings, LockSummary summary, ImmutableArray<int> atomicCallSites, ImmutableArray<AtomicGfpSite> gfpSites, bool hitRecursion)
    {
        Method = method;
        Findings = findings;
        Summary = summary;
        AtomicCallSites = atomicCallSites;
        AtomicGfpSites = gfpSites;
        HitRecursion = hitRecursion;
    }

    public IMethodSymbol Method { get; }
    public ImmutableArray<Finding> Findings { get; }
    public LockSummary Summary { get; }

    /// <summary>Span starts of the calls made with something atomic held on some path, in order (a handful at most).</summary>
    public ImmutableArray<int> AtomicCallSites { get; }
    public ImmutableArray<AtomicGfpSite> AtomicGfpSites { get; }
    public bool HitRecursion { get; }

    public static MethodAnalysis Trivial(IMethodSymbol m) => new(m, ImmutableArray<Finding>.Empty, LockSummary.Empty, ImmutableArray<int>.Empty, ImmutableArray<AtomicGfpSite>.Empty, false);
}
