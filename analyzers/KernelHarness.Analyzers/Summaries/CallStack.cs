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

    /// <summary>
    /// Calls deeper than this are treated as recursion: the question gets the provisional answer recursion gets, not
    /// kept. Real call chains are a few functions deep; a generated or hostile chain of thousands overflowed the
    /// stack (each function's summary asks for its callee's), which would take the compiler down.
    /// </summary>
    public const int MaxDepth = 48;

    /// <summary>Is <paramref name="m"/> on the stack already (or is the stack as deep as it may go)?</summary>
    public bool Contains(IMethodSymbol m)
    {
        if (Depth >= MaxDepth)
            return true;
        for (var s = this; s.Depth > 0; s = s.outer!)
            if (SymbolEqualityComparer.Default.Equals(s.method, m))
                return true;
        return false;
    }
}
