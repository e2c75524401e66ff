using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using KernelHarness.Analyzers.ContextEngine;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Provenance;

/// <summary>
/// The path-sensitive walk of one method's control-flow graph for KH3001–KH3004. Each path carries which
/// allocation every local, parameter and field holds and the state of each allocation (live, known NULL,
/// freed, checked against NULL, passed to an owner), so a free is judged against the allocation it frees
/// on that path, a NULL test refines both branches, and an error return sees what is still owned.
/// Helpers are followed through their summaries (<see cref="ProvenanceModel"/>).
/// </summary>
internal sealed class ProvenanceEngine : StructuredBody.IWalker<ProvenanceEngine.PState>
{
    private const int MaxStatesPerBlock = 24;

    private readonly ProvenanceModel pm;
    private readonly KernelSymbols k;
    private readonly IMethodSymbol method;
    private readonly List<Site> sites = new();
    private readonly Dictionary<string, int> siteIds = new();
    private Dictionary<string, Finding>? findings; // most functions have none: made on the first
    private List<(int Call, AllocFamily Families)>? freedFamilies; // per free call, the families it frees on any path
    private List<(int Call, string Key, string Pointer)>? mismatchedFrees; // the KH3001 findings, by call
    private CatchHandlers? catches; // while a graph is walked: where its exceptions may be caught

    private enum Status { Live, Null, Freed, Unknown }

    private sealed record Site(Origin Origin, bool Owned, string Name);

    private readonly record struct AState(Status Status, bool Checked, bool Escaped, Location? FreedAt);

    private sealed class PState
    {
        public readonly Dictionary<string, int> Vars;
        public readonly Dictionary<int, AState> Allocs;
        // Made when a path first learns a constant or captures a value (graph walks only): most never do.
        public Dictionary<string, long>? Consts;
        public Dictionary<CaptureId, int>? Captures;
        // Locals holding an errno result on this path: false while it may still be 0 (err = request_irq(…)), true
        // once a test has shown it is not (if (err != 0), if (err < 0)).
        public Dictionary<string, bool>? Errnos;

        private static readonly Dictionary<string, long> NoConsts = new();
        private static readonly Dictionary<string, bool> NoErrnos = new();

        public PState()
            : this(new Dictionary<string, int>(), new Dictionary<int, AState>())
        {
        }

        private PState(Dictionary<string, int> vars, Dictionary<int, AState> allocs)
        {
            Vars = vars;
            Allocs = allocs;
        }

        // (A constructor, not an initializer: that would make the two dictionaries only to replace them.)
        public PState Clone() => new(new Dictionary<string, int>(Vars), new Dictionary<int, AState>(Allocs))
        {
            Consts = Consts is null ? null : new Dictionary<string, long>(Consts),
            Captures = Captures is null ? null : new Dictionary<CaptureId, int>(Captures),
            Errnos = Errnos is null ? null : new Dictionary<string, bool>(Errnos),
        };

        /// <summary>
        /// Are the two states the same for every question the walk asks: the same variables pointing at the same
        /// allocations, each in the same status (checked, escaped, freed at the same place), the same constants?
        /// (What the captured values are does not count: they live within one statement.)
        /// </summary>
        public bool SameAs(PState other)
            => SameEntries(Vars, other.Vars, static (x, y) => x == y)
               && SameEntries(Allocs, other.Allocs, static (x, y) => x.Status == y.Status && x.Checked == y.Checked && x.Escaped == y.Escaped
                                                                       && (x.FreedAt?.SourceSpan.Start ?? -1) == (y.FreedAt?.SourceSpan.Start ?? -1))
               && SameEntries(Consts ?? NoConsts, other.Consts ?? NoConsts, static (x, y) => x == y)
               && SameEntries(Errnos ?? NoErrnos, other.Errnos ?? NoErrnos, static (x, y) => x == y);

        private static bool SameEntries<TKey, TValue>(Dictionary<TKey, TValue> a, Dictionary<TKey, TValue> b, System.Func<TValue, TValue, bool> same)
            where TKey : notnull
        {
            if (a.Count != b.Count)
                return false;
            foreach (var kv in a)
                if (!b.TryGetValue(kv.Key, out var other) || !same(kv.Value, other))
                    return false;
            return true;
        }
    }

    private ProvenanceEngine(ProvenanceModel pm, IMethodSymbol method)
    {
        this.pm = pm;
        k = pm.K;
        this.method = method;
    }

    public static ImmutableArray<Finding> Run(ProvenanceModel pm, IMethodSymbol method)
    {
        var body = pm.Model.Index.BodyOf(method);
        if (body is null || !HasCandidates(pm, method, body))
            return ImmutableArray<Finding>.Empty;
        var engine = new ProvenanceEngine(pm, method);
        if (pm.Model.StructuredOf(method, body) is { } structured)
        {
            engine.ExploreStructured(structured);
        }
        else
        {
            var cfg = pm.Model.CfgOf(method);
            if (cfg is null)
                return ImmutableArray<Finding>.Empty;
            engine.Explore(cfg);
        }
        engine.SuggestFreesForEveryPath();
        return engine.findings is null ? ImmutableArray<Finding>.Empty : engine.findings.Values.OrderBy(f => f.Location.SourceSpan.Start).ToImmutableArray();
    }

    /// <summary>
    /// A free call that gets memory of different families on different paths (<c>p = big ? vmalloc(n) : kmalloc(n, …);
    /// kfree(p);</c>) is reported on the path where it does not match; the free to use instead must take every family
    /// the call sees: kvfree for kmalloc and vmalloc memory. When no single free does, the finding says so and offers
    /// no fix (the other path's free would break).
    /// </summary>
    private void SuggestFreesForEveryPath()
    {
        if (mismatchedFrees is null || freedFamilies is null)
            return;
        foreach (var (call, key, pointer) in mismatchedFrees)
        {
            var families = AllocFamily.None;
            int seen = 0;
            foreach (var (at, family) in freedFamilies)
            {
                if (at != call || (families & family) == family)
                    continue;
                families |= family;
                seen++;
            }
            if (seen < 2 || !findings!.TryGetValue(key, out var finding))
                continue;
            bool kvfree = (families & ~AllocFamily.Kvmalloc) == AllocFamily.None;
            var use = kvfree ? "kvfree(" + pointer + ")" : "on each path the free of that path's allocation";
            var props = kvfree && finding.Properties.ContainsKey("Replacement") ? finding.Properties.SetItem("Replacement", use) : finding.Properties.Remove("Replacement");
            findings[key] = finding with { Args = finding.Args.SetItem(4, use), Properties = props };
        }
    }

    private static bool HasCandidates(ProvenanceModel pm, IMethodSymbol method, IOperation body)
    {
        // Most functions call no allocator, free or code of the compilation's own (the index noted it as it
        // scanned them): their code is not walked again.
        var calls = pm.Model.Index.CallsOf(method);
        if ((calls & CallKinds.Memory) == 0)
            return false;
        // A call of kmalloc, kfree and the like is a candidate: only calls of the compilation's own functions
        // need the walk below (do they free a parameter, or return an allocation?).
        if ((calls & CallKinds.KernelMemory) != 0)
            return true;
        foreach (var op in Summaries.Eval.OwnOperations(body))
        {
            if (op is not IInvocationOperation inv)
                continue;
            if (pm.Apis.Alloc(inv.TargetMethod) is not null || pm.Apis.Free(inv.TargetMethod) is not null)
                return true;
            if (pm.IsSource(inv.TargetMethod) && (!pm.FreesOf(inv.TargetMethod).IsEmpty || pm.ReturnOrigin(inv.TargetMethod) is not null))
                return true;
        }
        return false;
    }

    // ---------------------------------------------------------------- exploration

    private void Explore(ControlFlowGraph cfg)
    {
        catches = CatchHandlers.Of(cfg);
        var seen = new SeenStates<PState>(static (a, b) => a.SameAs(b), MaxStatesPerBlock);
        var work = new Queue<(BasicBlock Block, PState State)>();
        void Enqueue(BasicBlock b, PState s)
        {
            if (seen.Add(b.Ordinal, s))
                work.Enqueue((b, s));
        }
        Enqueue(cfg.Blocks[0], new PState());
        int budget = 20000;
        while (work.Count > 0 && budget-- > 0)
        {
            pm.Model.CancellationToken.ThrowIfCancellationRequested();
            var (block, state) = work.Dequeue();
            Process(cfg, block, state.Clone(), Enqueue);
        }
    }

    /// <summary>The paths of a structured body: its statements in order, each fork's sides, and their exits.</summary>
    private void ExploreStructured(StructuredBody body)
    {
        // The paths that return a value have left by their return; these leave by the body's end.
        foreach (var s in StructuredBody.Walk(body.Statements, new List<PState>(1) { new PState() }, this, MaxStatesPerBlock))
            Exit(s, null);
    }

    PState StructuredBody.IWalker<PState>.Statement(IOperation statement, PState state)
    {
        Walk(statement, state);
        return state;
    }

    (PState? WhenTrue, PState? WhenFalse) StructuredBody.IWalker<PState>.Fork(IOperation condition, PState state)
    {
        Walk(condition, state);
        var whenTrue = state.Clone();
        Refine(condition, whenTrue, true);
        Refine(condition, state, false);
        return (whenTrue, state);
    }

    bool StructuredBody.IWalker<PState>.Same(PState a, PState b) => a.SameAs(b);

    void StructuredBody.IWalker<PState>.Return(IOperation value, PState state)
    {
        Walk(value, state);
        Exit(state, value);
    }

    private void Process(ControlFlowGraph cfg, BasicBlock block, PState s, System.Action<BasicBlock, PState> enqueue)
    {
        if (block.Kind == BasicBlockKind.Exit)
            return;
        var handlers = catches?.For(block) ?? ImmutableArray<CatchHandlers.Handler>.Empty;
        foreach (var op in block.Operations)
        {
            if (!handlers.IsEmpty && CatchHandlers.MayThrow(op, k))
                Throw(cfg, handlers, s, enqueue);
            Walk(op, s);
        }
        var branch = block.BranchValue;
        if (branch is not null)
        {
            if (!handlers.IsEmpty && CatchHandlers.MayThrow(branch, k))
                Throw(cfg, handlers, s, enqueue);
            Walk(branch, s);
        }
        if (branch is not null && block.ConditionalSuccessor is not null)
        {
            bool condOnTrue = block.ConditionKind == ControlFlowConditionKind.WhenTrue;
            var t = s.Clone();
            var f = s;
            Refine(branch, t, true);
            Refine(branch, f, false);
            Follow(cfg, block.ConditionalSuccessor, condOnTrue ? t : f, null, enqueue);
            Follow(cfg, block.FallThroughSuccessor, condOnTrue ? f : t, null, enqueue);
            return;
        }
        Follow(cfg, block.FallThroughSuccessor, s, branch, enqueue);
    }

    private void Follow(ControlFlowGraph cfg, ControlFlowBranch? br, PState s, IOperation? returned, System.Action<BasicBlock, PState> enqueue)
    {
        if (br is null)
            return;
        foreach (var region in br.FinallyRegions)
            RunFinally(cfg, region, s);
        var dest = br.Destination;
        if (dest is null)
            return;
        if (dest.Kind == BasicBlockKind.Exit)
        {
            Exit(s, br.Semantics == ControlFlowBranchSemantics.Return ? returned : null);
            return;
        }
        enqueue(dest, s);
    }

    /// <summary>A finally region's operations, in order (what it frees or stores happens on every path through it).</summary>
    private void RunFinally(ControlFlowGraph cfg, ControlFlowRegion region, PState s)
    {
        for (int i = region.FirstBlockOrdinal; i <= region.LastBlockOrdinal && i < cfg.Blocks.Length; i++)
        {
            foreach (var op in cfg.Blocks[i].Operations)
                Walk(op, s);
            if (cfg.Blocks[i].BranchValue is { } bv)
                Walk(bv, s);
        }
    }

    /// <summary>
    /// The operation about to run may throw: the path enters each handler that may catch it with the state it has
    /// now, after the finally blocks between (the graph has no such edge; see <see cref="CatchHandlers"/>).
    /// </summary>
    private void Throw(ControlFlowGraph cfg, ImmutableArray<CatchHandlers.Handler> handlers, PState s, System.Action<BasicBlock, PState> enqueue)
    {
        foreach (var handler in handlers)
        {
            var caught = s.Clone();
            foreach (var region in handler.FinallyRegions)
                RunFinally(cfg, region, caught);
            enqueue(cfg.Blocks[handler.Region.FirstBlockOrdinal], caught);
        }
    }

    // ---------------------------------------------------------------- operations

    private void Walk(IOperation op, PState s)
    {
        switch (op)
        {
            case IFlowAnonymousFunctionOperation or IAnonymousFunctionOperation or ILocalFunctionOperation:
                Captured(op.Syntax, s);
                return;
        }
        foreach (var c in op.ChildOperations)
            Walk(c, s);
        switch (op)
        {
            case ISimpleAssignmentOperation a:
                Assign(Summaries.Eval.Unwrap(a.Target), a.Value, s);
                break;
            case IVariableDeclaratorOperation { Initializer: { } init } declarator:
                // Only in structured bodies: the graph turns 'var x = e' into an assignment.
                Assign(declarator.Symbol, init.Value, s);
                break;
            case IDeconstructionAssignmentOperation deconstruction:
                Deconstruct(deconstruction.Target, deconstruction.Value, s);
                break;
            case IFlowCaptureOperation fc:
                if (Eval(fc.Value, s) is int id)
                    (s.Captures ??= new Dictionary<CaptureId, int>())[fc.Id] = id;
                else
                    s.Captures?.Remove(fc.Id);
                break;
            case IInvocationOperation inv:
                Call(inv, s);
                break;
            case IObjectCreationOperation oc:
                foreach (var arg in oc.Arguments)
                    if (Peek(arg.Value, s) is int id2)
                        Escape(id2, s);
                break;
        }
    }

    /// <summary>A lambda or local function that mentions a tracked variable takes it over.</summary>
    private void Captured(SyntaxNode syntax, PState s)
    {
        var names = new HashSet<string>(syntax.DescendantNodes().OfType<IdentifierNameSyntax>().Select(i => i.Identifier.ValueText));
        foreach (var kv in s.Vars.ToList())
        {
            var name = VarName(kv.Key);
            if (kv.Value >= 0 && names.Contains(name))
                Escape(kv.Value, s);
        }
    }

    private static string VarName(string key)
    {
        var body = key.Substring(2);
        int at = body.IndexOf('@');
        if (at >= 0)
            body = body.Substring(0, at);
        int dot = body.LastIndexOf('.');
        return dot >= 0 ? body.Substring(dot + 1) : body;
    }

    private void Assign(IOperation target, IOperation value, PState s)
        => Assign(VarKey(target), target is ILocalReferenceOperation or IParameterReferenceOperation, value, s);

    private void Assign(ILocalSymbol local, IOperation value, PState s) => Assign(KeyOf(local), true, value, s);

    private void Assign(string? key, bool local, IOperation value, PState s) => Store(key, local, Eval(value, s), value, s);

    /// <summary>
    /// <c>(a, b) = (b, a)</c>, <c>var (buf, n) = (p, len)</c>: every value is read before any target is set, so a swap
    /// swaps; a value that is not written as a tuple (a call returning one) leaves its targets unknown.
    /// </summary>
    private void Deconstruct(IOperation target, IOperation value, PState s)
    {
        var pairs = new List<(IOperation Target, IOperation? Value)>();
        Pair(target, value, pairs);
        var ids = new int?[pairs.Count];
        for (int i = 0; i < pairs.Count; i++)
            ids[i] = pairs[i].Value is { } v ? Eval(v, s) : null;
        for (int i = 0; i < pairs.Count; i++)
        {
            var t = Summaries.Eval.Unwrap(pairs[i].Target);
            if (t is IDiscardOperation)
                continue;
            Store(VarKey(t), t is ILocalReferenceOperation or IParameterReferenceOperation, ids[i], pairs[i].Value ?? t, s);
        }
    }

    private static void Pair(IOperation target, IOperation? value, List<(IOperation, IOperation?)> pairs)
    {
        while (target is IDeclarationExpressionOperation declaration)
            target = declaration.Expression;
        if (value is not null)
            value = Summaries.Eval.Unwrap(value);
        if (target is not ITupleOperation targets)
        {
            pairs.Add((target, value));
            return;
        }
        var values = value is ITupleOperation tuple && tuple.Elements.Length == targets.Elements.Length ? tuple.Elements : default;
        for (int i = 0; i < targets.Elements.Length; i++)
            Pair(targets.Elements[i], values.IsDefault ? null : values[i], pairs);
    }

    private void Store(string? key, bool local, int? id, IOperation value, PState s)
    {
        if (!local && id is int escaped)
            Escape(escaped, s);
        if (key is null)
            return;
        s.Vars[key] = id ?? -1;
        if (local && value.ConstantValue.HasValue && ProvenanceModel.ToLong(value.ConstantValue.Value) is long c)
            (s.Consts ??= new Dictionary<string, long>())[key] = c;
        else
            s.Consts?.Remove(key);
        if (local && Summaries.Eval.Unwrap(value) is IInvocationOperation call && k.Info(call.TargetMethod).ReturnsErrno)
            (s.Errnos ??= new Dictionary<string, bool>())[key] = false;
        else
            s.Errnos?.Remove(key);
    }

    private void Escape(int id, PState s)
    {
        if (s.Allocs.TryGetValue(id, out var st))
            s.Allocs[id] = st with { Escaped = true };
    }

    private void Call(IInvocationOperation inv, PState s)
    {
        var target = inv.TargetMethod;
        var free = pm.Apis.Free(target);
        if (free is not null)
        {
            var ptr = Summaries.Eval.Argument(inv.Arguments, free.Pointer);
            if (ptr is null || Peek(ptr.Value, s) is not int id)
                return;
            string? cacheKey = null, cacheText = null;
            long? order = free.Order is null ? 0 : null;
            foreach (var a in inv.Arguments)
            {
                if (free.Cache is not null && a.Parameter?.Name == free.Cache)
                {
                    cacheKey = ProvenanceModel.KeyOf(a.Value);
                    cacheText = a.Value.Syntax.ToString().TrimEnd('!');
                }
                else if (free.Order is not null && a.Parameter?.Name == free.Order)
                    order = Summaries.Eval.Const(a.Value, method, default) is { } c ? ProvenanceModel.ToLong(c) : null;
            }
            Free(s, id, new FreeSummary(0, free.Family, cacheKey, cacheText, order, k.DisplayName(target), true, ""), inv, ptr.Value, direct: true);
            return;
        }
        var alloc = pm.Apis.Alloc(target);
        if (alloc?.Reallocates is { } re)
        {
            var old = Summaries.Eval.Argument(inv.Arguments, re);
            if (old is not null && Peek(old.Value, s) is int oid && s.Allocs.TryGetValue(oid, out var ost))
                s.Allocs[oid] = ost with { Status = Status.Unknown };
        }
        if (pm.IsSource(target))
        {
            var sums = pm.FreesOf(target);
            foreach (var arg in inv.Arguments)
            {
                if (arg.Parameter is null || Peek(arg.Value, s) is not int id)
                    continue;
                var sum = sums.FirstOrDefault(x => x.Parameter == arg.Parameter.Ordinal);
                if (sum is null)
                {
                    // A helper that only reads the pointer (fills it, compares it) leaves it with the caller.
                    if (pm.KeepsParameter(target, arg.Parameter.Ordinal))
                        Escape(id, s);
                    continue;
                }
                var (ck, ct) = ProvenanceModel.MapCache(sum.CacheKey, sum.CacheText, inv);
                Free(s, id, sum with { CacheKey = ck, CacheText = ct }, inv, arg.Value, direct: false);
            }
            if (inv.Instance is not null && Peek(inv.Instance, s) is int iid)
                Escape(iid, s);
            return;
        }
        if (!SymbolEqualityComparer.Default.Equals(target.ContainingType, k.Kernel))
        {
            // The base library (a list, a dictionary …) takes the pointer over.
            foreach (var arg in inv.Arguments)
                if (Peek(arg.Value, s) is int id)
                    Escape(id, s);
            return;
        }
        var role = k.Info(target).Role;
        foreach (var arg in inv.Arguments)
        {
            if (Peek(arg.Value, s) is not int id)
                continue;
            if (pm.Apis.TakesOwnership(arg.Parameter))
            {
                Escape(id, s);
                continue;
            }
            if (role != Role.Dereference || !s.Allocs.TryGetValue(id, out var st))
                continue;
            var site = sites[id];
            if (st.Status == Status.Live && !st.Checked && site.Owned && site.Origin.CanFail)
            {
                Report(DiagnosticIds.UseBeforeNullCheck, arg.Value.Syntax.GetLocation(), null,
                    arg.Value.Syntax.ToString(), site.Origin.Describe, Kinds.Where(site.Origin.Location), k.DisplayName(target) + "()");
                // Reported once: from here on the path behaves as if checked.
                s.Allocs[id] = st with { Checked = true };
            }
        }
    }

    private void Free(PState s, int id, FreeSummary how, IInvocationOperation call, IOperation pointer, bool direct)
    {
        // Frees nearly always match their allocation: the words of a finding are made only for one.
        if (!s.Allocs.TryGetValue(id, out var st) || st.Status == Status.Null)
            return;
        var site = sites[id];
        var o = site.Origin;
        if (o.Family != AllocFamily.None)
            (freedFamilies ??= new List<(int, AllocFamily)>(2)).Add((call.Syntax.SpanStart, o.Family));
        var loc = call.Syntax.GetLocation();
        string Via() => direct ? "" : " — called via " + how.Chain;
        bool mismatch = !AllocApis.Accepts(how.Family, o.Family)
            || (how.Family == AllocFamily.KmemCache && o.Family == AllocFamily.KmemCache && IsField(how.CacheKey) && IsField(o.CacheKey) && how.CacheKey != o.CacheKey)
            || (how.Family is AllocFamily.Pages or AllocFamily.PageStruct && o.Family == how.Family && how.Order is long a && o.Order is long b && a != b);
        if (mismatch && o.Family != AllocFamily.None)
        {
            var use = Replacement(o, pointer.Syntax.ToString());
            var props = ImmutableDictionary<string, string?>.Empty;
            if (direct && use is not null && (o.Family != AllocFamily.KmemCache || CacheUsableHere(o)))
                props = props.Add("Replacement", use);
            var key = Report(DiagnosticIds.MismatchedFree, loc, props,
                how.Api + "()", o.Describe, Kinds.Where(o.Location), Via(), use ?? AllocApis.FreeName(o.Family) + "()");
            (mismatchedFrees ??= new List<(int, string, string)>(1)).Add((call.Syntax.SpanStart, key, pointer.Syntax.ToString()));
        }
        if (st.Status == Status.Freed && how.Unconditional && st.FreedAt is not null)
            // One finding per second free, though paths freed it first at different places (each branch of an if).
            ReportOnce(DiagnosticIds.DoubleFree, loc, pointer.Syntax.ToString(), null, how.Api + "()", pointer.Syntax.ToString(), Kinds.Where(st.FreedAt), Via());
        s.Allocs[id] = how.Unconditional ? st with { Status = Status.Freed, FreedAt = loc } : st with { Status = Status.Unknown };
    }

    /// <summary>Only caches named by fields are compared: a parameter or local may hold any cache.</summary>
    private static bool IsField(string? key) => key is not null && key.StartsWith("F:", System.StringComparison.Ordinal);

    /// <summary>The cache of the allocation can be named at the free: a field or property (or the same method's local).</summary>
    private static bool CacheUsableHere(Origin o) => o.CacheKey is not null && o.CacheText is not null && o.CacheKey.StartsWith("F:", System.StringComparison.Ordinal);

    private static string? Replacement(Origin o, string ptr) => o.Family switch
    {
        AllocFamily.Kmalloc => "kfree(" + ptr + ")",
        AllocFamily.Vmalloc => "vfree(" + ptr + ")",
        AllocFamily.Kvmalloc => "kvfree(" + ptr + ")",
        AllocFamily.KmemCache => o.CacheText is null ? null : "kmem_cache_free(" + o.CacheText + ", " + ptr + ")",
        AllocFamily.Pages => "free_pages(" + ptr + ", " + (o.OrderText ?? "0") + ")",
        AllocFamily.PageStruct => "__free_pages(" + ptr + ", " + (o.OrderText ?? "0") + ")",
        _ => null,
    };

    // ---------------------------------------------------------------- values

    private string? VarKey(IOperation op)
    {
        op = Summaries.Eval.Unwrap(op);
        switch (op)
        {
            case ILocalReferenceOperation l:
                return KeyOf(l.Local);
            case IParameterReferenceOperation p:
                return KeyOf(p.Parameter, "P:");
            case IFieldReferenceOperation f when !f.Field.IsStatic || InSource(f.Field):
                if (f.Instance is null or IInstanceReferenceOperation)
                    return KeyOf(f.Field, "F:");
                var inner = VarKey(f.Instance);
                return inner is null ? null : "F:" + inner.Substring(2) + "." + f.Field.Name;
            case IPropertyReferenceOperation pr when pr.Arguments.IsEmpty && InSource(pr.Property):
                if (pr.Instance is null or IInstanceReferenceOperation)
                    return KeyOf(pr.Property, "F:");
                var inner2 = VarKey(pr.Instance);
                return inner2 is null ? null : "F:" + inner2.Substring(2) + "." + pr.Property.Name;
        }
        return null;
    }

    private static bool InSource(ISymbol symbol)
    {
        foreach (var location in symbol.Locations)
            if (location.IsInSource)
                return true;
        return false;
    }

    // A function reads its few locals, parameters and fields again and again: each one's key is made once per run.
    private Dictionary<ISymbol, string>? symbolKeys;

    private string KeyOf(ILocalSymbol local) => KeyOf(local, "L:");

    /// <summary>
    /// The key of a local (<c>L:</c>), parameter (<c>P:</c>) or field or property of this object (<c>F:</c>) in this
    /// run. Two locals of one name in different scopes are told apart by the order this run met them (a key
    /// lives only in this run's states), not by their place, which a local symbol makes anew each time it is asked.
    /// </summary>
    private string KeyOf(ISymbol symbol, string prefix)
    {
        symbolKeys ??= new Dictionary<ISymbol, string>(SymbolEqualityComparer.Default);
        if (!symbolKeys.TryGetValue(symbol, out var key))
        {
            key = prefix + symbol.Name;
            if (symbol is ILocalSymbol && symbolKeys.ContainsValue(key))
                key += "#" + symbolKeys.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            symbolKeys[symbol] = key;
        }
        return key;
    }

    private static bool IsPointerType(ITypeSymbol? t)
        => t is not null && t.Name is "kptr" or "page" && t.ContainingNamespace is { Name: "KernelHarness", ContainingNamespace.IsGlobalNamespace: true };

    /// <summary>
    /// A ulong field: <c>__get_free_pages</c> returns an address, as Linux's <c>unsigned long</c>, and drivers keep it in
    /// such a field. Its provenance is looked up (once per field: most are counters, and have none).
    /// </summary>
    private static bool IsAddressField(IOperation op)
        => op is IFieldReferenceOperation { Type.SpecialType: SpecialType.System_UInt64 };

    /// <summary>The allocation a value denotes on this path, without creating one.</summary>
    private int? Peek(IOperation op, PState s)
    {
        op = Summaries.Eval.Unwrap(op);
        if (op is IFlowCaptureReferenceOperation cr)
            return s.Captures is not null && s.Captures.TryGetValue(cr.Id, out var c) ? c : null;
        var key = VarKey(op);
        if (key is null)
            return null;
        if (s.Vars.TryGetValue(key, out var id))
            return id >= 0 ? id : null;
        // Not assigned on this path: a pointer field's provenance, or a pointer parameter/field of unknown origin.
        // (Only a kptr or page field, or a ulong field holding __get_free_pages' address, can hold an allocation:
        // the counters and locks a walk meets are not looked up.)
        Origin? origin = !IsPointerType(op.Type) && !IsAddressField(op) ? null : op switch
        {
            IFieldReferenceOperation f => pm.FieldOrigin(f.Field),
            IPropertyReferenceOperation p => pm.FieldOrigin(p.Property),
            _ => null,
        };
        if (origin is null && !(IsPointerType(op.Type) && op is IParameterReferenceOperation or IFieldReferenceOperation))
            return null;
        origin ??= new Origin(AllocFamily.None, null, null, null, null, false, "?", op.Syntax.GetLocation(), null);
        var nid = NewSite("V:" + key, origin, owned: false, VarName(key));
        s.Vars[key] = nid;
        s.Allocs[nid] = new AState(Status.Live, true, false, null);
        return nid;
    }

    /// <summary>The allocation a value denotes, creating it when the value is an allocating call.</summary>
    private int? Eval(IOperation op, PState s)
    {
        var u = Summaries.Eval.Unwrap(op);
        if (u is IInvocationOperation inv)
        {
            var origin = pm.OriginOfCall(inv, method);
            bool owned = origin is not null;
            if (origin is null)
            {
                if (!IsPointerType(inv.Type))
                    return null;
                origin = new Origin(AllocFamily.None, null, null, null, null, false, k.DisplayName(inv.TargetMethod), inv.Syntax.GetLocation(), null);
            }
            var name = op.Parent is ISimpleAssignmentOperation a ? VarName(VarKey(a.Target) ?? "X:?") : "the pointer";
            var id = NewSite("A:" + inv.Syntax.SpanStart.ToString(System.Globalization.CultureInfo.InvariantCulture), origin, owned, name);
            s.Allocs[id] = new AState(Status.Live, !origin.CanFail, false, null);
            return id;
        }
        return Peek(u, s);
    }

    private int NewSite(string key, Origin origin, bool owned, string name)
    {
        if (siteIds.TryGetValue(key, out var id))
            return id;
        id = sites.Count;
        sites.Add(new Site(origin, owned, name));
        siteIds[key] = id;
        return id;
    }

    // ---------------------------------------------------------------- conditions and exits

    private void Refine(IOperation cond, PState s, bool value)
    {
        var op = Summaries.Eval.Unwrap(cond);
        if (op is IUnaryOperation { OperatorKind: UnaryOperatorKind.Not } not)
        {
            Refine(not.Operand, s, !value);
            return;
        }
        if (op is IBinaryOperation compared && ErrorShownBy(compared, value, s) is { } errKey)
        {
            (s.Errnos ??= new Dictionary<string, bool>())[errKey] = true;
            return;
        }
        IOperation? subject = null;
        bool nullWhenTrue = true;
        if (op is IBinaryOperation { OperatorKind: BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals } b)
        {
            if (pm.IsNullish(b.RightOperand)) subject = b.LeftOperand;
            else if (pm.IsNullish(b.LeftOperand)) subject = b.RightOperand;
            nullWhenTrue = b.OperatorKind == BinaryOperatorKind.Equals;
        }
        else if (op is IInvocationOperation inv && k.Info(inv.TargetMethod).Role is Role.NullCheck or Role.ErrorCheck && inv.Arguments.Length >= 1)
            subject = inv.Arguments[0].Value;
        else if (op is IIsPatternOperation { Pattern: IConstantPatternOperation cp } ip && pm.IsNullish(cp.Value))
            subject = ip.Value;
        if (subject is null)
            return;
        subject = Summaries.Eval.Unwrap(subject);
        if (subject is IFieldReferenceOperation { Field.Name: "addr", Instance: { } inst })
            subject = inst;
        if (Peek(subject, s) is not int id || !s.Allocs.TryGetValue(id, out var st))
            return;
        if (value == nullWhenTrue)
            s.Allocs[id] = st.Status == Status.Live ? st with { Status = Status.Null, Checked = true } : st with { Checked = true };
        else
            s.Allocs[id] = st with { Checked = true };
    }

    /// <summary>
    /// The local a comparison with 0 shows to hold a negative errno on this branch: <c>err &lt; 0</c> of any signed
    /// local (the kernel's convention for a negative result), <c>err != 0</c> of one holding the result of a function
    /// that returns 0 or a negative errno (<c>err = request_irq(…)</c>). Null for any other test.
    /// </summary>
    private string? ErrorShownBy(IBinaryOperation b, bool value, PState s)
    {
        // (Of an int, "nullish" is 0: the same test the NULL checks below use.)
        var (subject, kind) = pm.IsNullish(b.RightOperand) ? (b.LeftOperand, b.OperatorKind)
            : pm.IsNullish(b.LeftOperand) ? (b.RightOperand, Mirrored(b.OperatorKind))
            : (null, b.OperatorKind);
        if (subject is null || Summaries.Eval.Unwrap(subject) is not ILocalReferenceOperation local || !IsSignedInt(local.Type) || VarKey(local) is not { } key)
            return null;
        bool negative = (kind, value) is (BinaryOperatorKind.LessThan, true) or (BinaryOperatorKind.GreaterThanOrEqual, false);
        bool nonZero = (kind, value) is (BinaryOperatorKind.NotEquals, true) or (BinaryOperatorKind.Equals, false);
        return negative || (nonZero && s.Errnos is not null && s.Errnos.ContainsKey(key)) ? key : null;

        static BinaryOperatorKind Mirrored(BinaryOperatorKind k) => k switch
        {
            BinaryOperatorKind.LessThan => BinaryOperatorKind.GreaterThan,
            BinaryOperatorKind.GreaterThan => BinaryOperatorKind.LessThan,
            BinaryOperatorKind.LessThanOrEqual => BinaryOperatorKind.GreaterThanOrEqual,
            BinaryOperatorKind.GreaterThanOrEqual => BinaryOperatorKind.LessThanOrEqual,
            _ => k,
        };
    }

    private void Exit(PState s, IOperation? returned)
    {
        if (returned is null)
            return;
        if (Peek(returned, s) is int rid)
            Escape(rid, s);
        var err = ErrorText(returned, s);
        if (err is null)
            return;
        var at = returned.Syntax.FirstAncestorOrSelf<ReturnStatementSyntax>()?.GetLocation() ?? returned.Syntax.GetLocation();
        foreach (var kv in s.Allocs)
        {
            var site = sites[kv.Key];
            if (!site.Owned || kv.Value.Status != Status.Live || kv.Value.Escaped)
                continue;
            var name = s.Vars.Where(v => v.Value == kv.Key).Select(v => VarName(v.Key)).OrderBy(n => n, System.StringComparer.Ordinal).FirstOrDefault() ?? site.Name;
            ReportOnce(DiagnosticIds.LeakOnErrorPath, at, "leak:" + kv.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), null, err, name, site.Origin.Describe + (site.Origin.Via is null ? "" : " via " + site.Origin.Via), Kinds.Where(site.Origin.Location));
        }
    }

    /// <summary>The text of a negative errno being returned (a constant, a local holding one, ERR_PTR of one).</summary>
    private string? ErrorText(IOperation v, PState s)
    {
        var u = Summaries.Eval.Unwrap(v);
        if (u.ConstantValue.HasValue)
            return ProvenanceModel.ToLong(u.ConstantValue.Value) is long n && n < 0 && IsSignedInt(v.Type) ? u.Syntax.ToString() : null;
        if (u is ILocalReferenceOperation && VarKey(u) is { } key && s.Consts is not null && s.Consts.TryGetValue(key, out var c) && c < 0)
            return u.Syntax.ToString() + " (" + c.ToString(System.Globalization.CultureInfo.InvariantCulture) + ")";
        if (u is ILocalReferenceOperation && VarKey(u) is { } errKey && s.Errnos is not null && s.Errnos.TryGetValue(errKey, out var shown) && shown)
            return u.Syntax.ToString() + " (a negative errno)";
        if (u is IInvocationOperation inv && k.DisplayName(inv.TargetMethod) == "ERR_PTR" && inv.Arguments.Length == 1
            && ErrorText(inv.Arguments[0].Value, s) is not null)
            return u.Syntax.ToString();
        return null;
    }

    private static bool IsSignedInt(ITypeSymbol? t) => t?.SpecialType is SpecialType.System_Int32 or SpecialType.System_Int64 or SpecialType.System_Int16 or SpecialType.System_SByte;

    /// <summary>Adds a finding unless the same one is known (another path reached it); returns its key.</summary>
    private string Report(string id, Location loc, ImmutableDictionary<string, string?>? props, params string[] args)
        => ReportOnce(id, loc, string.Join("|", args), props, args);

    private string ReportOnce(string id, Location loc, string dedupe, ImmutableDictionary<string, string?>? props, params string[] args)
    {
        var key = id + "@" + loc.SourceSpan.Start.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":" + dedupe;
        findings ??= new Dictionary<string, Finding>();
        if (findings.ContainsKey(key))
            return key;
        var f = Finding.Create(id, loc, ImmutableArray<Location>.Empty, args);
        if (props is not null)
            f = f with { Properties = props };
        findings[key] = f;
        return key;
    }
}
