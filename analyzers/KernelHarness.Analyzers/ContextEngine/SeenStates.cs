using System.Collections.Generic;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>
/// The states a graph walk has already carried into each block, compared by value with the engine's own test
/// (the one a structured body's joins use too): a path arriving with a state the block has seen goes no
/// further, and a block, or the whole walk, takes only so many.
/// </summary>
internal sealed class SeenStates<TState>
    where TState : class
{
    private readonly Dictionary<int, List<TState>> byBlock = new();
    private readonly System.Func<TState, TState, bool> same;
    private readonly int maxPerBlock;
    private readonly int maxInAll;
    private int count;

    public SeenStates(System.Func<TState, TState, bool> same, int maxPerBlock, int maxInAll = int.MaxValue)
    {
        this.same = same;
        this.maxPerBlock = maxPerBlock;
        this.maxInAll = maxInAll;
    }

    /// <summary>Records <paramref name="state"/> at <paramref name="block"/>: false when it was seen there already or a limit is reached.</summary>
    public bool Add(int block, TState state)
    {
        if (count >= maxInAll)
            return false;
        if (!byBlock.TryGetValue(block, out var states))
            byBlock[block] = states = new List<TState>();
        if (states.Count >= maxPerBlock)
            return false;
        foreach (var s in states)
            if (ReferenceEquals(s, state) || same(s, state))
                return false;
        states.Add(state);
        count++;
        return true;
    }
}
