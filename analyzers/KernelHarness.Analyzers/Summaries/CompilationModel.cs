using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using KernelHarness.Analyzers.ContextEngine;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// Everything computed once per compilation and shared by every KH rule: the kernel symbols, the
/// compilation index (bodies, call graph, registrations), may-sleep summaries and the path-sensitive
/// analysis of each method (which yields its findings and its lock summary). All lazy, all thread-safe.
/// </summary>
internal sealed class CompilationModel
{
    private static readonly ConditionalWeakTable<Compilation, CompilationModel> Models = new();
    private static readonly ConditionalWeakTable<Compilation, object> NoKernel = new();

    private readonly ConcurrentDictionary<(IMethodSymbol Method, string Consts), SleepInfo?> sleep = new(SleepKeyComparer.Instance);

    /// <summary>A may-sleep question: the function (by symbol) and the constants its arguments are known to hold.</summary>
    private sealed class SleepKeyComparer : IEqualityComparer<(IMethodSymbol Method, string Consts)>
    {
        public static readonly SleepKeyComparer Instance = new();
        public bool Equals((IMethodSymbol Method, string Consts) x, (IMethodSymbol Method, string Consts) y)
            => x.Consts == y.Consts && SymbolEqualityComparer.Default.Equals(x.Method, y.Method);
        public int GetHashCode((IMethodSymbol Method, string Consts) key)
            => SymbolEqualityComparer.Default.GetHashCode(key.Method) * 31 + key.Consts.GetHashCode();
    }
    private readonly ConcurrentDictionary<IMethodSymbol, MethodAnalysis> analyses;
    private readonly ConcurrentDictionary<IOperation, ControlFlowGraph?> cfgs = new();
    private readonly ConcurrentDictionary<IMethodSymbol, ImmutableArray<ContextOrigin>> ownContexts;
    private readonly ConcurrentDictionary<IMethodSymbol, ControlFlowGraph?> nestedCfgs = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<IMethodSymbol, ProcessOnly> contexts;
    private readonly ConcurrentDictionary<SyntaxTree, StrongBox<int>> rulesDone = new();
    private readonly ConcurrentDictionary<SyntaxTree, List<Finding>> fileFindings = new();
    private int fileRules;

    private CompilationModel(KernelSymbols symbols)
    {
        Symbols = symbols;
        analyses = symbols.FunctionCache<IMethodSymbol, MethodAnalysis>();
        ownContexts = symbols.FunctionCache<IMethodSymbol, ImmutableArray<ContextOrigin>>();
        contexts = new(SymbolEqualityComparer.Default); // asked only of functions that allocate with GFP_ATOMIC (KH1003)
        SemanticModels = new SemanticModels(symbols.Compilation);
        Index = new CompilationIndex(symbols, SemanticModels);
    }

    public KernelSymbols Symbols { get; }
    public SemanticModels SemanticModels { get; }

    public CancellationToken CancellationToken { get; set; }

    /// <summary>
    /// Whether the engines walk structured bodies as written rather than through a control-flow graph
    /// (<see cref="ContextEngine.StructuredBody"/>). Always, except in the test that checks both ways agree.
    /// </summary>
    public bool StructuredBodies { get; private set; } = true;

    /// <summary>A model of its own, not the one the rules share: for that test, which compares the two ways.</summary>
    internal static CompilationModel? CreateUnshared(Compilation compilation, bool structuredBodies)
        => KernelSymbols.TryCreate(compilation) is { } symbols ? new CompilationModel(symbols) { StructuredBodies = structuredBodies } : null;

    /// <summary>The shared model, or null when the compilation does not reference the kernel API.</summary>
    public static CompilationModel? Get(Compilation compilation)
    {
        if (Models.TryGetValue(compilation, out var m))
            return m;
        if (NoKernel.TryGetValue(compilation, out _))
            return null;
        var symbols = KernelSymbols.TryCreate(compilation);
        if (symbols is null)
        {
            NoKernel.GetValue(compilation, _ => new object());
            return null;
        }
        return Models.GetValue(compilation, _ => new CompilationModel(symbols));
    }

    /// <summary>Counts a rule that analyses every file (its per-file action reports <see cref="FileAnalysed"/>).</summary>
    public void AddFileRule() => Interlocked.Increment(ref fileRules);

    /// <summary>
    /// One rule is done with a file. When all are, the file's operation trees, graphs and semantic model are let
    /// go of (<see cref="CompilationIndex.Release"/>): under a build, each file's bound code then dies soon after
    /// the file is analysed instead of living to the end of the compilation.
    /// </summary>
    public void FileAnalysed(SyntaxTree tree)
    {
        var done = rulesDone.GetOrAdd(tree, _ => new StrongBox<int>());
        int rules = Volatile.Read(ref fileRules);
        if (rules > 0 && Interlocked.Increment(ref done.Value) % rules == 0)
            Release(tree);
    }

    /// <summary>Raised when every rule has analysed a file and its bound code is let go of: for the caches other models keep per file.</summary>
    public event System.Action<SyntaxTree>? FileReleased;

    private void Release(SyntaxTree tree)
    {
        fileFindings.TryRemove(tree, out _);
        FileReleased?.Invoke(tree);
        foreach (var scan in Index.Release(tree))
        {
            foreach (var m in scan.Methods)
            {
                nestedCfgs.TryRemove(m, out _);
                if (scan.TryGetBody(m, out _, out var root))
                    cfgs.TryRemove(root, out _);
            }
        }
    }

    /// <summary>The compilation index: cheap to make, it binds code only as questions need it.</summary>
    public CompilationIndex Index { get; }

    public SleepInfo? MaySleep(IMethodSymbol method, ImmutableArray<object?> consts, CallStack? stack = null)
    {
        method = method.OriginalDefinition;
        var key = (method, Eval.Key(consts));
        if (sleep.TryGetValue(key, out var cached))
            return cached;
        var result = StackRoom.Answer((Model: this, Method: method, Consts: consts, Stack: stack ?? CallStack.Empty),
            static q => SleepSummaries.Compute(q.Model, q.Method, q.Consts, q.Stack));
        if (stack is null || stack.IsEmpty)
            sleep.TryAdd(key, result);
        return result;
    }

    /// <summary>The entry contexts of a method: registrations anywhere in the compilation and attributes.</summary>
    public ImmutableArray<ContextOrigin> OwnContexts(IMethodSymbol method)
    {
        // Asked for every function the engines look at: a hit allocates nothing, nor does a miss (no delegate for
        // GetOrAdd; two threads may both compute a function's contexts, and the first answer stored is kept).
        method = method.OriginalDefinition;
        return ownContexts.TryGetValue(method, out var known) ? known : ownContexts.GetOrAdd(method, ComputeOwnContexts(method));
    }

    private ImmutableArray<ContextOrigin> ComputeOwnContexts(IMethodSymbol method)
    {
        var registrations = Index.RegistrationsOf(method);
        var info = Symbols.Info(method);
        if (registrations.Count == 0 && (info.DeclaredContext & (Ctx.Atomic | Ctx.Process)) == 0)
            return ImmutableArray<ContextOrigin>.Empty; // most functions: neither registered nor marked
        int marks = ((info.DeclaredContext & Ctx.Atomic) != 0 ? 1 : 0) + ((info.DeclaredContext & Ctx.Process) != 0 ? 1 : 0);
        var list = ImmutableArray.CreateBuilder<ContextOrigin>(registrations.Count + marks);
        for (int i = 0; i < registrations.Count; i++) // (a list interface: indexed, not enumerated through a boxed enumerator)
            list.Add(registrations[i]);
        var loc = method.Locations.FirstOrDefault() ?? Location.None;
        if ((info.DeclaredContext & Ctx.Atomic) != 0)
            list.Add(new ContextOrigin(Ctx.Atomic, $"{method.Name}() is marked [AtomicContext]", loc));
        if ((info.DeclaredContext & Ctx.Process) != 0)
            list.Add(new ContextOrigin(Ctx.Process, $"{method.Name}() is marked [ProcessContext]", loc));
        return list.MoveToImmutable();
    }

    /// <summary>
    /// The context engine's findings in the code of one file's functions, in source order: gathered once for the
    /// rules that each report their own among them.
    /// </summary>
    public List<Finding> FindingsIn(SyntaxTree tree)
    {
        return fileFindings.TryGetValue(tree, out var known) ? known : fileFindings.GetOrAdd(tree, Gather(Index.MethodsIn(tree), m => Analyze(m).Findings));
    }

    private static readonly List<Finding> NoFindings = new();

    /// <summary>
    /// One engine's findings in the given functions, in order: a list of them, or (nearly every file) the shared
    /// empty list. How each engine gathers a file's findings for the rules that share it.
    /// </summary>
    internal static List<Finding> Gather(List<IMethodSymbol> methods, System.Func<IMethodSymbol, ImmutableArray<Finding>> analyze)
    {
        List<Finding>? found = null;
        foreach (var method in methods)
            foreach (var finding in analyze(method))
                (found ??= new List<Finding>()).Add(finding);
        return found ?? NoFindings;
    }

    public MethodAnalysis Analyze(IMethodSymbol method, CallStack? stack = null)
    {
        method = method.OriginalDefinition;
        if (analyses.TryGetValue(method, out var a))
            return a;
        stack ??= CallStack.Empty;
        var result = StackRoom.Answer((Model: this, Method: method, Stack: stack.Push(method)), static q => PathEngine.Run(q.Model, q.Method, q.Stack));
        if (stack.IsEmpty || !result.HitRecursion)
            return analyses.GetOrAdd(method, result);
        return result;
    }

    /// <summary>Lock effects of a callee for a caller being analysed (null while the callee is on the stack).</summary>
    public LockSummary? SummaryFor(IMethodSymbol callee, CallStack stack, out bool recursion)
    {
        callee = callee.OriginalDefinition;
        recursion = stack.Contains(callee);
        if (recursion || Index.BodyOf(callee) is null)
            return null;
        var analysis = Analyze(callee, stack);
        recursion = analysis.HitRecursion;
        return analysis.Summary;
    }

    /// <summary>
    /// The method's body as structured code both engines can walk as written, or null when they need its graph
    /// (<see cref="StructuredBody"/>; always null when <see cref="StructuredBodies"/> is off). Found once per method.
    /// </summary>
    public StructuredBody? StructuredOf(IMethodSymbol method, IOperation body)
    {
        if (!StructuredBodies)
            return null;
        return Index.StructuredOf(method, body);
    }

    public ControlFlowGraph? CfgOf(IMethodSymbol method)
    {
        var root = Index.RootOf(method);
        var body = Index.BodyOf(method);
        if (root is null || body is null)
            return null;
        var rootCfg = cfgs.GetOrAdd(root, r => CreateCfg(r));
        if (rootCfg is null || ReferenceEquals(root, body))
            return rootCfg;
        if (nestedCfgs.TryGetValue(method, out var known))
            return known;
        // One walk of the member's graph finds the graphs of all its lambdas and local functions.
        foreach (var pair in AllNested(rootCfg, 0))
            nestedCfgs.TryAdd(pair.Key, pair.Value);
        return nestedCfgs.TryGetValue(method, out known) ? known : null;
    }

    private static IEnumerable<KeyValuePair<IMethodSymbol, ControlFlowGraph>> AllNested(ControlFlowGraph cfg, int depth)
    {
        if (depth > 8)
            yield break;
        foreach (var lf in cfg.LocalFunctions)
        {
            var g = cfg.GetLocalFunctionControlFlowGraph(lf);
            yield return new KeyValuePair<IMethodSymbol, ControlFlowGraph>(lf, g);
            foreach (var inner in AllNested(g, depth + 1))
                yield return inner;
        }
        foreach (var block in cfg.Blocks)
        {
            foreach (var op in block.Operations.Concat(block.BranchValue is null ? Enumerable.Empty<IOperation>() : new[] { block.BranchValue }))
            {
                foreach (var f in op.DescendantsAndSelf().OfType<IFlowAnonymousFunctionOperation>())
                {
                    var g = cfg.GetAnonymousFunctionControlFlowGraph(f);
                    yield return new KeyValuePair<IMethodSymbol, ControlFlowGraph>(f.Symbol, g);
                    foreach (var inner in AllNested(g, depth + 1))
                        yield return inner;
                }
            }
        }
    }

    private ControlFlowGraph? CreateCfg(IOperation root)
    {
        try
        {
            return root switch
            {
                IMethodBodyOperation m => ControlFlowGraph.Create(m, CancellationToken),
                IConstructorBodyOperation c => ControlFlowGraph.Create(c, CancellationToken),
                IBlockOperation b when b.Parent is null => ControlFlowGraph.Create(b, CancellationToken),
                IFieldInitializerOperation f => ControlFlowGraph.Create(f, CancellationToken),
                IPropertyInitializerOperation p => ControlFlowGraph.Create(p, CancellationToken),
                _ => null,
            };
        }
        catch (System.ArgumentException)
        {
            return null;
        }
    }

    /// <summary>
    /// The entry context matching <paramref name="match"/> that reaches <paramref name="fn"/>: its own (a
    /// registration or an attribute), or else a caller's, through the call graph up to
    /// <paramref name="maxDepth"/> calls, with the calls in between (<c>f() is called from g() at F:L, …</c>;
    /// empty for its own). Callers for which <paramref name="guarded"/> holds are not followed.
    /// </summary>
    public (ContextOrigin Origin, string Chain)? EntryReaching(IMethodSymbol fn, System.Func<ContextOrigin, bool> match, int maxDepth, System.Func<IMethodSymbol, bool>? guarded = null)
        => EntryReaching(fn.OriginalDefinition, match, maxDepth, guarded, new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default), 0);

    private (ContextOrigin Origin, string Chain)? EntryReaching(IMethodSymbol fn, System.Func<ContextOrigin, bool> match, int maxDepth, System.Func<IMethodSymbol, bool>? guarded, HashSet<IMethodSymbol> seen, int depth)
    {
        if (depth > maxDepth || !seen.Add(fn))
            return null;
        var own = OwnContexts(fn).FirstOrDefault(match);
        if (own is not null)
            return (own, "");
        foreach (var edge in Index.CallersOf(fn))
        {
            var caller = edge.Caller.OriginalDefinition;
            if (guarded is not null && guarded(caller))
                continue;
            var up = EntryReaching(caller, match, maxDepth, guarded, seen, depth + 1);
            if (up is null)
                continue;
            var link = ChainName(fn) + " is called from " + ChainName(caller) + " at " + Kinds.Where(edge.Call.GetLocation());
            return (up.Value.Origin, up.Value.Chain.Length == 0 ? link : link + ", " + up.Value.Chain);
        }
        return null;
    }

    /// <summary>How a chain names a function: <c>f()</c>, <c>a lambda</c>, or a property's accessor as <c>Mode.get()</c>.</summary>
    private static string ChainName(IMethodSymbol fn) => fn.MethodKind switch
    {
        MethodKind.AnonymousFunction => "a lambda",
        MethodKind.PropertyGet or MethodKind.PropertySet => Accessors.Describe(fn) + "()",
        _ => fn.Name + "()",
    };

    public enum ProcessOnly { Unknown, Process, Atomic }

    /// <summary>Is this method only ever reached in process context with nothing held (KH1003)?</summary>
    public ProcessOnly ReachedContext(IMethodSymbol method) => Reached(method.OriginalDefinition, CallStack.Empty);

    private ProcessOnly Reached(IMethodSymbol method, CallStack visiting)
    {
        if (contexts.TryGetValue(method, out var known))
            return known;
        if (visiting.Contains(method))
            return ProcessOnly.Process;
        visiting = visiting.Push(method);
        var result = StackRoom.Answer((Model: this, Method: method, Visiting: visiting), static q => q.Model.ComputeReached(q.Method, q.Visiting));
        if (visiting.Depth == 1)
            contexts.TryAdd(method, result);
        return result;
    }

    private ProcessOnly ComputeReached(IMethodSymbol method, CallStack visiting)
    {
        var own = OwnContexts(method);
        if (own.Any(o => o.Context != Ctx.Process))
            return ProcessOnly.Atomic;
        bool declaredProcess = own.Any(o => !o.IsRegistration);
        if (Index.Escapes(method))
            return ProcessOnly.Unknown;
        if (!declaredProcess && IsExternallyVisible(method))
            return ProcessOnly.Unknown;
        var callers = Index.CallersOf(method);
        if (callers.Count == 0 && own.IsEmpty)
            return ProcessOnly.Unknown;
        var worst = ProcessOnly.Process;
        foreach (var edge in callers)
        {
            if (Index.IsForwarder(edge.Caller))
                continue;
            var analysis = Analyze(edge.Caller);
            if (analysis.AtomicCallSites.Contains(edge.Call.SpanStart))
                return ProcessOnly.Atomic;
            var r = Reached(edge.Caller.OriginalDefinition, visiting);
            if (r == ProcessOnly.Atomic)
                return r;
            if (r == ProcessOnly.Unknown)
                worst = ProcessOnly.Unknown;
        }
        return worst;
    }

    private static bool IsExternallyVisible(IMethodSymbol m)
    {
        if (m.MethodKind is MethodKind.AnonymousFunction or MethodKind.LocalFunction)
            return false;
        for (ISymbol? s = m; s is not null and not INamespaceSymbol; s = s.ContainingSymbol)
            if (s.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Protected or Accessibility.ProtectedOrInternal))
                return false;
        return true;
    }
}
