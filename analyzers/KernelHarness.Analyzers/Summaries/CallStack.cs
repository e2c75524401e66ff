using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// The functions an interprocedural question is inside of, innermost first: how recursion and mutual recursion
/// are noticed and stopped. A chain of cells, each pushed in front of the one it extends; call chains are a few
/// functions deep, so a lookup that compares each is cheaper than a set, and a push is one small object (the
/// question is asked for every function of the compilation).
/// </summary>
internal sealed class CallStack
{
    public static readonly CallStack Empty = new(null!, null, 0);

    private readonly IMethodSymbol method;
    private readonly CallStack? outer;

    private CallStack(IMethodSymbol method, CallStack? outer, int depth)
    {
        this.method = method;
        this.outer = outer;
        Depth = depth;
    }

    /// <summary>How many functions are on the stack.</summary>
    public int Depth { get; }

    public bool IsEmpty => Depth == 0;

    /// <summary>This stack with <paramref name="m"/> on top.</summary>
    public CallStack Push(IMethodSymbol m) => new(m, this, Depth + 1);

    public bool Contains(IMethodSymbol m)
    {
        for (var s = this; s.Depth > 0; s = s.outer!)
            if (SymbolEqualityComparer.Default.Equals(s.method, m))
                return true;
        return false;
    }
}
