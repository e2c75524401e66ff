using System.Linq;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// A fixed set of operation kinds, asked about at every operation of every body the index scans: a lookup
/// in an array indexed by kind, where a hash set would hash each time.
/// </summary>
internal sealed class OperationKindSet
{
    private readonly bool[] members;

    public OperationKindSet(params OperationKind[] kinds)
    {
        members = new bool[kinds.Max(k => (int)k) + 1];
        foreach (var kind in kinds)
            members[(int)kind] = true;
    }

    public bool Contains(OperationKind kind) => (uint)kind < (uint)members.Length && members[(int)kind];
}
