using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>
/// The context engine: a path-sensitive walk of one method's control-flow graph. Each path carries a
/// <see cref="State"/> (what is held, in order; the values of conditions already tested; pending
/// trylocks), so branches on the same condition or on a trylock's result stay correlated; finally
/// regions run on the paths that leave their try; loops end because states per block are finite.
/// Calls apply the kernel's attributes, or the callee's own summary for a method of the compilation.
/// </summary>
internal sealed class PathEngine : StructuredBody.IWalker<State>
{
    private const int MaxStatesPerBlock = 24;
    private const int MaxHeld = 12;

    // An engine walks one function at a time and is used again for the next (see Run): what it knows of the
    // function is set by Start and forgotten by Finish.
    private CompilationModel model = null!;
    private CatchHandlers? catches; // while a graph is walked: where its exceptions may be caught
    private KernelSymbols k = null!;
    private IMethodSymbol method = null!;
    private CallStack stack = null!;
    private ContextOrigin? ownAtomic;
    private Ctx ownKinds;
    private bool registered;
    // The engine runs once per function of the compilation, and most find nothing: what it collects is made on first use.
    private Dictionary<string, Finding>? findings;
    private List<int>? atomicCallSites; // in the order met, with repeats (a path can pass a call twice)
    private Dictionary<int, AtomicGfpSite>? gfpSites;
    private Few<Exit> exits; // most functions leave by one exit
    private List<(string Key, LockKind Kind, string? FlagsKey, string Api, Location Loc, string Rule, string Message)>? unmatched;
    private List<string>? acquiredKeys; // a few at most: a list, looked through
    private bool hitRecursion;

    /// <summary>A path's exit: its state, what it returns, and the syntax it leaves by (made into words only for a finding).</summary>
    private sealed record Exit(State State, Cat Category, SyntaxNode? Near);

    private enum Cat { Unknown, True, False, Zero, Positive, Negative, Null, NonNull, Truthy, Falsy }

    private void Start(CompilationModel model, IMethodSymbol method, CallStack stack)
    {
        this.model = model;
        k = model.Symbols;
        this.method = method;
        this.stack = stack;
        var own = model.OwnContexts(method);
        ownAtomic = own.FirstOrDefault(o => o.Context != Ctx.Process);
        ownKinds = Ctx.None;
        foreach (var o in own)
            ownKinds |= o.Context;
        registered = own.Any(o => o.IsRegistration);
    }

    private void Finish()
    {
        model = null!;
        catches = null;
        k = null!;
        method = null!;
        stack = null!;
        ownAtomic = null;
        ownKinds = Ctx.None;
        registered = false;
        findings = null;
        atomicCallSites = null;
        gfpSites = null;
        exits = default;
        unmatched = null;
        acquiredKeys = null;
        hitRecursion = false;
        helperAcquires = null;
        helperReleases = null;
        usedAsHelper = null;
    }

    // The engine runs for every function of the compilation, and again for a callee from inside a caller's walk:
    // each thread keeps the engines it has finished with, and takes one back for the next function.
    [System.ThreadStatic]
    private static Stack<PathEngine>? idle;

    public static MethodAnalysis Run(CompilationModel model, IMethodSymbol method, CallStack stack)
    {
        var body = model.Index.BodyOf(method);
        if (body is null)
            return MethodAnalysis.Trivial(method);
        if (!HasCandidates(model, method))
            return MethodAnalysis.Trivial(method);
        var engine = idle is { Count: > 0 } free ? free.Pop() : new PathEngine();
        try
        {
            engine.Start(model, method, stack);
            if (model.StructuredOf(method, body) is { } structured)
                return engine.ExploreStructured(structured);
            var cfg = model.CfgOf(method);
            if (cfg is null)
                return MethodAnalysis.Trivial(method);
            return engine.Explore(cfg);
        }
        finally
        {
            engine.Finish();
            var pool = idle ??= new Stack<PathEngine>();
            if (pool.Count < 16)
                pool.Push(engine);
        }
    }

    /// <summary>
    /// Can the walk find anything here? Only calls act on the state (locks, interrupts, preemption, sleeping,
    /// allocation) and only lock annotations start it held: a function without either is trivial whatever its
    /// context, and its entry contexts are not even looked up.
    /// </summary>
    private static bool HasCandidates(CompilationModel model, IMethodSymbol method)
        // The index noted, as it scanned the code, whether any call of the function's own has effects or goes
        // to the compilation's code (which may): the body is not walked again to find out.
        => model.Symbols.Info(method).HasLockAnnotations || (model.Index.CallsOf(method) & CallKinds.Effects) != 0;

    // ---------------------------------------------------------------- exploration

    private MethodAnalysis Explore(ControlFlowGraph cfg)
    {
        catches = CatchHandlers.Of(cfg);
        var entry = EntryState();
        var seen = new SeenStates<State>(static (a, b) => a.SameAs(b), MaxStatesPerBlock);
        var work = new Queue<(BasicBlock Block, State State)>();
        void Enqueue(BasicBlock b, State s)
        {
            if (seen.Add(b.Ordinal, s))
                work.Enqueue((b, s));
        }
        Enqueue(cfg.Blocks[0], entry);
        int budget = 20000;
        while (work.Count > 0 && budget-- > 0)
        {
            model.CancellationToken.ThrowIfCancellationRequested();
            var (block, state) = work.Dequeue();
            ProcessBlock(cfg, block, state, Enqueue, null);
        }
        catches = null;
        return Result();
    }

    /// <summary>The paths of a structured body: its statements in order, each fork's sides, and their exits.</summary>
    private MethodAnalysis ExploreStructured(StructuredBody body)
    {
        // The paths that return a value have left by their return; these leave by the body's end.
        foreach (var s in StructuredBody.Walk(body.Statements, new List<State>(1) { EntryState() }, this, MaxStatesPerBlock))
            RecordExit(s, null, null);
        return Result();
    }

    State StructuredBody.IWalker<State>.Statement(IOperation statement, State state) => Exec(statement, state, null);

    (State? WhenTrue, State? WhenFalse) StructuredBody.IWalker<State>.Fork(IOperation condition, State state)
    {
        var s = Exec(condition, state, CondCore(condition));
        return (Cond(condition, s, true), Cond(condition, s, false));
    }

    bool StructuredBody.IWalker<State>.Same(State a, State b) => a.SameAs(b);

    void StructuredBody.IWalker<State>.Return(IOperation value, State state)
        => RecordExit(Exec(value, state, CondCore(value)), value, value.Syntax);

    private MethodAnalysis Result()
    {
        Conclude();
        return new MethodAnalysis(method,
            findings is null ? ImmutableArray<Finding>.Empty : findings.Values.ToImmutableArray(),
            BuildSummary(),
            atomicCallSites is null ? ImmutableArray<int>.Empty : Sorted(atomicCallSites),
            gfpSites is null ? ImmutableArray<AtomicGfpSite>.Empty : gfpSites.Values.ToImmutableArray(),
            hitRecursion);
    }

    private static ImmutableArray<int> Sorted(List<int> positions)
    {
        positions.Sort();
        int distinct = 0;
        for (int i = 0; i < positions.Count; i++)
            if (i == 0 || positions[i] != positions[i - 1])
                positions[distinct++] = positions[i];
        var array = new int[distinct];
        positions.CopyTo(0, array, 0, distinct);
        return System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsImmutableArray(array);
    }

    private State EntryState()
    {
        var s = State.Empty;
        var info = k.Info(method);
        if (info.MustHold.IsEmpty && info.Releases.IsEmpty)
            return s; // most functions start holding nothing (a symbol's locations are made anew when asked)
        var loc = method.Locations.FirstOrDefault() ?? Location.None;
        foreach (var path in info.MustHold)
        {
            var (key, display) = LockRef.ResolvePath(path, method, null);
            if (key is not null)
                s = s.Push(new Held(key, display, KindOfPath(path, LockKind.Spin), loc, method.Name, null, null, null, true));
        }
        foreach (var r in info.Releases)
        {
            if (r.IsContext)
                s = s.Push(new Held(Kinds.ContextKey(r.Kind, r.FlagsParameter is null ? null : "p:" + r.FlagsParameter), method.Name, r.Kind, loc, method.Name, null, null, null, true));
            else
            {
                var (key, display) = LockRef.ResolvePath(r.Path, method, null);
                if (key is not null)
                    s = s.Push(new Held(key, display, r.Kind == LockKind.Unknown ? KindOfPath(r.Path, LockKind.Unknown) : r.Kind, loc, method.Name, null, null, null, true));
            }
        }
        return s;
    }

    /// <summary>The kind of a lock named by an attribute path, from the type of the member it names.</summary>
    private LockKind KindOfPath(string path, LockKind fallback)
    {
        var segs = path.Split('.');
        ITypeSymbol? type = null;
        int i = 0;
        var param = method.Parameters.FirstOrDefault(p => p.Name == segs[0]);
        if (param is not null) { type = param.Type; i = 1; }
        else { type = method.ContainingType; if (segs[0] == LockRef.This) i = 1; }
        for (; i < segs.Length && type is not null; i++)
        {
            var member = type.GetMembers(segs[i]).FirstOrDefault();
            type = member switch { IFieldSymbol f => f.Type, IPropertySymbol p => p.Type, _ => null };
        }
        return type?.Name switch
        {
            "spinlock_t" => LockKind.Spin,
            "rwlock_t" => LockKind.WriteLock,
            "mutex" => LockKind.Mutex,
            "semaphore" => LockKind.Semaphore,
            _ => fallback,
        };
    }

    private void ProcessBlock(ControlFlowGraph cfg, BasicBlock block, State state, System.Action<BasicBlock, State> enqueue, List<State>? finallyEnds)
    {
        var s = state;
        var handlers = catches?.For(block) ?? ImmutableArray<CatchHandlers.Handler>.Empty;
        foreach (var op in block.Operations)
        {
            if (!handlers.IsEmpty && CatchHandlers.MayThrow(op, k))
                Throw(cfg, handlers, s, enqueue);
            s = Exec(op, s, null);
        }
        var branch = block.BranchValue;
        if (branch is not null && !handlers.IsEmpty && CatchHandlers.MayThrow(branch, k))
            Throw(cfg, handlers, s, enqueue);
        if (branch is not null && block.ConditionalSuccessor is not null)
        {
            var core = CondCore(branch);
            s = Exec(branch, s, core);
            var whenTrue = Cond(branch, s, true);
            var whenFalse = Cond(branch, s, false);
            bool condOnTrue = block.ConditionKind == ControlFlowConditionKind.WhenTrue;
            Follow(cfg, block, block.ConditionalSuccessor, condOnTrue ? whenTrue : whenFalse, null, enqueue, finallyEnds);
            Follow(cfg, block, block.FallThroughSuccessor, condOnTrue ? whenFalse : whenTrue, null, enqueue, finallyEnds);
            return;
        }
        IOperation? returned = null;
        if (branch is not null)
        {
            var core = CondCore(branch);
            s = Exec(branch, s, core);
            if (block.FallThroughSuccessor?.Semantics == ControlFlowBranchSemantics.Return)
                returned = branch;
        }
        if (block.FallThroughSuccessor is null || block.FallThroughSuccessor.Semantics == ControlFlowBranchSemantics.StructuredExceptionHandling)
        {
            finallyEnds?.Add(s);
            return;
        }
        Follow(cfg, block, block.FallThroughSuccessor, s, returned, enqueue, finallyEnds);
    }

    private void Follow(ControlFlowGraph cfg, BasicBlock from, ControlFlowBranch? branch, State? s, IOperation? returned, System.Action<BasicBlock, State> enqueue, List<State>? finallyEnds)
    {
        if (branch is null || s is null)
            return;
        var states = new List<State> { s };
        foreach (var region in branch.FinallyRegions)
            states = RunFinally(cfg, region, states);
        if (branch.Destination is null)
            return; // throw, rethrow, program termination: not an exit the rules check
        foreach (var st in states)
        {
            if (branch.Destination.Kind == BasicBlockKind.Exit)
                RecordExit(st, returned, returned?.Syntax ?? from.Operations.LastOrDefault()?.Syntax);
            else
                enqueue(branch.Destination, st);
        }
    }

    /// <summary>
    /// The operation about to run may throw: the path enters each handler that may catch it with the state it has
    /// now, after the finally blocks between (the graph has no such edge; see <see cref="CatchHandlers"/>).
    /// </summary>
    private void Throw(ControlFlowGraph cfg, ImmutableArray<CatchHandlers.Handler> handlers, State s, System.Action<BasicBlock, State> enqueue)
    {
        foreach (var handler in handlers)
        {
            var states = new List<State>(1) { s };
            foreach (var region in handler.FinallyRegions)
                states = RunFinally(cfg, region, states);
            foreach (var st in states)
                enqueue(cfg.Blocks[handler.Region.FirstBlockOrdinal], st);
        }
    }

    private List<State> RunFinally(ControlFlowGraph cfg, ControlFlowRegion region, List<State> states)
    {
        var ends = new List<State>();
        var seen = new SeenStates<State>(static (a, b) => a.SameAs(b), maxPerBlock: int.MaxValue, maxInAll: 200);
        var work = new Queue<(BasicBlock, State)>();
        void Enqueue(BasicBlock b, State st)
        {
            if (b.Ordinal < region.FirstBlockOrdinal || b.Ordinal > region.LastBlockOrdinal)
                return;
            if (seen.Add(b.Ordinal, st))
                work.Enqueue((b, st));
        }
        foreach (var st in states)
            Enqueue(cfg.Blocks[region.FirstBlockOrdinal], st);
        while (work.Count > 0)
        {
            var (b, st) = work.Dequeue();
            ProcessBlock(cfg, b, st, Enqueue, ends);
        }
        return ends;
    }

    // ---------------------------------------------------------------- operations

    private State Exec(IOperation op, State s, IOperation? skip)
    {
        switch (op)
        {
            case IFlowAnonymousFunctionOperation or IAnonymousFunctionOperation or ILocalFunctionOperation:
                return s;
            case ISimpleAssignmentOperation a:
                // The target's own code runs first: a ref-returning call (get_cpu_var(v) = 0), an instance or index.
                if (a.Target is IInvocationOperation)
                    s = Exec(a.Target, s, skip);
                else
                    foreach (var c in a.Target.ChildOperations)
                        s = Exec(c, s, skip);
                s = Assign(a.Target, a.Value, s, skip);
                // A property of the compilation's given a value runs its setter.
                if (a.Target is IPropertyReferenceOperation set)
                    CheckAccessorSleep(set, s);
                return s;
            case IVariableDeclaratorOperation { Initializer: { } init } declarator:
                // Only in structured bodies: the graph turns 'var x = e' into the assignment above.
                return Assign(declarator, init.Value, s, skip);
            case ICompoundAssignmentOperation or IIncrementOrDecrementOperation:
            {
                foreach (var c in op.ChildOperations)
                    s = Exec(c, s, skip);
                if (!s.KnowsAnything)
                    return s;
                var target = op is ICompoundAssignmentOperation ca ? ca.Target : ((IIncrementOrDecrementOperation)op).Target;
                var key = LockRef.KeyOf(target);
                return key is null ? s : s.Forget(key);
            }
            case IInvocationOperation inv:
                foreach (var c in inv.ChildOperations)
                    s = Exec(c, s, skip);
                return Call(inv, s, ReferenceEquals(inv, skip));
            case IPropertyReferenceOperation property:
                foreach (var c in property.ChildOperations)
                    s = Exec(c, s, skip);
                CheckAccessorSleep(property, s);
                return s;
            default:
                foreach (var c in op.ChildOperations)
                    s = Exec(c, s, skip);
                return s;
        }
    }

    /// <summary>
    /// A property or indexer of the compilation read or written in atomic context: its accessor is a call (a getter
    /// that takes a mutex sleeps as a helper would). Its sleeping is checked; its lock effects are not followed.
    /// </summary>
    private void CheckAccessorSleep(IPropertyReferenceOperation property, State s)
    {
        var held = s.FirstAtomic;
        if ((held is null && ownAtomic is null) || Accessors.Called(property, model) is not { } accessor)
            return;
        // Like a call made with something held: the accessor is reached in atomic context from here (KH1003).
        if (held is not null)
            (atomicCallSites ??= new List<int>()).Add(property.Syntax.SpanStart);
        var sleep = model.MaySleep(accessor, ImmutableArray<object?>.Empty, stack);
        if (sleep is null || sleep.IsGfpDependent || (sleep.ExceptIn & ownKinds) != 0)
            return;
        var (cause, causeLoc) = held is not null ? (Kinds.Describe(held), held.Site) : (ownAtomic!.Description, ownAtomic.Location);
        var links = sleep.Chain.Select(c => c.Site).ToImmutableArray();
        Add(Finding.Create(DiagnosticIds.SleepInAtomicContext, property.Syntax.GetLocation(), ImmutableArray.Create(causeLoc).AddRange(links),
            sleep.Api + "()", cause, " — called via " + Accessors.Describe(accessor) + "() -> " + sleep.ChainText));
    }

    /// <summary>
    /// Stores <paramref name="value"/> in <paramref name="place"/> (an assignment's target, or a declared local): what
    /// was known of the place is forgotten, and a trylock's result waits there for the test that decides it. (A
    /// target that is not a plain place has no key and keeps nothing.)
    /// </summary>
    private State Assign(IOperation place, IOperation value, State s, IOperation? skip)
    {
        var core = CondCall(value);
        s = Exec(value, s, core ?? skip);
        bool? flag = LocalFlagValue(place, value);
        // The place's key is made only when there is something to forget, a flag to note or a trylock's result to keep.
        if (core is null && flag is null && !s.KnowsAnything)
            return s;
        var key = place is IVariableDeclaratorOperation declarator ? LockRef.LocalKey(declarator.Symbol) : LockRef.KeyOf(place);
        if (key is null)
            return s;
        s = s.Forget(key);
        if (core is not null)
            foreach (var p in CondAcquires(core))
                s = s.WithPending(key, p);
        // A flag set beside the lock (`locked = true` after spin_lock, `bool locked = false` before) is what a later
        // `if (locked) spin_unlock(…)` tests: a local bool given a constant is known, as a tested condition is.
        // (Locals only: a callee may change a field.)
        if (flag is bool known)
            s = s.WithFact(key, known);
        return s;
    }

    /// <summary>The constant a local bool is given here (<c>locked = true</c>, <c>bool locked = false</c>), or null.</summary>
    private static bool? LocalFlagValue(IOperation place, IOperation value)
    {
        var local = place switch
        {
            IVariableDeclaratorOperation d => d.Symbol,
            ILocalReferenceOperation l => l.Local,
            _ => null,
        };
        if (local is null || local.Type.SpecialType != SpecialType.System_Boolean)
            return null;
        return Eval.Unwrap(value).ConstantValue is { HasValue: true, Value: bool b } ? b : null;
    }

    /// <summary>The invocation whose acquisition depends on how its result is tested, if the expression is one.</summary>
    private IInvocationOperation? CondCall(IOperation op)
        => Eval.Unwrap(op) is IInvocationOperation inv && MayAcquireConditionally(inv) && CondAcquires(inv).Any() ? inv : null;

    /// <summary>
    /// Can the call acquire something only on some results? Asked of every call whose value is stored: most are
    /// kernel functions that take nothing, or always take what they take, and need no lock resolved to tell.
    /// </summary>
    private bool MayAcquireConditionally(IInvocationOperation inv)
    {
        var info = k.Info(inv.TargetMethod);
        if (!info.HasLockAnnotations)
            return model.Index.BodyOf(inv.TargetMethod.OriginalDefinition) is not null;
        foreach (var a in info.Acquires)
            if (a.When != When.Always)
                return true;
        return false;
    }

    private IOperation? CondCore(IOperation op)
    {
        op = Eval.Unwrap(op);
        switch (op)
        {
            case IUnaryOperation { OperatorKind: UnaryOperatorKind.Not } u:
                return CondCore(u.Operand);
            case IBinaryOperation { OperatorKind: BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals } b:
                if (ConstLike(b.RightOperand) is not null) return CondCore(b.LeftOperand);
                if (ConstLike(b.LeftOperand) is not null) return CondCore(b.RightOperand);
                return null;
            default:
                return CondCall(op);
        }
    }

    /// <summary>
    /// The truth of a constant a condition compares with: 0, null, NULL and false are false, true and any other
    /// number true. <c>Exact</c> when being equal to it and being as true as it are the same thing (false-like
    /// constants and the bool true): <c>x == 0</c> is <c>!x</c>, but <c>x != 5</c> says nothing of whether x is 0.
    /// </summary>
    private (bool Truth, bool Exact)? ConstLike(IOperation op)
    {
        op = Eval.Unwrap(op);
        if (op.ConstantValue.HasValue)
        {
            return op.ConstantValue.Value switch
            {
                null => (false, true),
                bool b => (b, true),
                _ when Eval.ToULong(op.ConstantValue.Value) is ulong u => (u != 0, u == 0),
                _ => null,
            };
        }
        if (op is IFieldReferenceOperation f && k.RoleOf(f.Field) == Role.NullPointer)
            return (false, true);
        if (op is IPropertyReferenceOperation p && k.RoleOf(p.Property) == Role.NullPointer)
            return (false, true);
        return null;
    }

    /// <summary>Conditional acquisitions of a call, from the kernel's attributes or the callee's summary.</summary>
    private IEnumerable<Pending> CondAcquires(IInvocationOperation inv)
    {
        var info = k.Info(inv.TargetMethod);
        if (info.HasLockAnnotations)
        {
            foreach (var a in info.Acquires)
                if (a.When != When.Always && MakeHeld(inv, a) is Held h)
                    yield return new Pending(h, a.When);
            yield break;
        }
        var target = inv.TargetMethod.OriginalDefinition;
        if (model.Index.BodyOf(target) is null)
            yield break;
        var summary = model.SummaryFor(target, stack, out var rec);
        if (rec)
            hitRecursion = true;
        if (summary is null)
            yield break;
        foreach (var e in summary.Acquires)
            if (e.When != When.Always && Rebased(inv, e) is Held h)
                yield return new Pending(h, e.When);
    }

    /// <summary>The state on the path where <paramref name="op"/> has truth <paramref name="truth"/>; null when that path is impossible.</summary>
    private State? Cond(IOperation op, State s, bool truth)
    {
        var constant = Eval.Const(op, method, default);
        if (constant is bool cb)
            return cb == truth ? s : null;
        op = Eval.Unwrap(op);
        switch (op)
        {
            case IUnaryOperation { OperatorKind: UnaryOperatorKind.Not } u:
                return Cond(u.Operand, s, !truth);
            case IBinaryOperation { OperatorKind: BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals } b:
            {
                var rc = ConstLike(b.RightOperand);
                var lc = ConstLike(b.LeftOperand);
                var other = rc is not null ? b.LeftOperand : lc is not null ? b.RightOperand : null;
                var c = rc ?? lc;
                if (other is null || c is null)
                    return s;
                // On this path `other` equals the constant, or differs from it.
                bool equal = (b.OperatorKind == BinaryOperatorKind.Equals) == truth;
                if (c.Value.Exact)
                    return Cond(other, s, equal ? c.Value.Truth : !c.Value.Truth); // x == 0 is !x
                // A nonzero constant: the comparison itself is the fact, so that testing it again agrees (locking
                // correlated by `mode == 1`), while `x != 5` says nothing of `x == 7` or of whether x is 0 (an
                // else-if chain over values goes on to its last else). Equal to 5, x is also true. The fact is kept
                // under the operand's key (`x.==5`), so what forgets x (an assignment, ++, ref/out) forgets it too.
                var compared = (rc is not null ? b.RightOperand : b.LeftOperand).ConstantValue;
                if (LockRef.KeyOf(other) is string operand && compared.HasValue)
                {
                    var key = operand + ".==" + System.Convert.ToString(compared.Value, System.Globalization.CultureInfo.InvariantCulture);
                    if (s.Facts.TryGetValue(key, out var known))
                    {
                        if (known != equal)
                            return null;
                    }
                    else
                        s = s.WithFact(key, equal);
                }
                return equal ? Cond(other, s, true) : s;
            }
            case IInvocationOperation inv:
            {
                foreach (var p in CondAcquires(inv))
                {
                    bool acquired = p.When == When.ReturnsZero ? !truth : truth;
                    if (acquired)
                        s = Acquire(s, p.Lock, p.Lock.Site); // made at this call
                }
                return s;
            }
            default:
            {
                var key = LockRef.KeyOf(op);
                if (key is null)
                    return s;
                if (s.Facts.TryGetValue(key, out var known))
                    return known == truth ? s : null;
                var next = s.WithFact(key, truth);
                if (s.PendingByKey.TryGetValue(key, out var pending))
                {
                    bool acquired = pending.When == When.ReturnsZero ? !truth : truth;
                    if (acquired)
                        next = Acquire(next, pending.Lock, pending.Lock.Site);
                }
                return next;
            }
        }
    }

    private State Call(IInvocationOperation inv, State s, bool isCondCore)
    {
        var target = inv.TargetMethod;
        var info = k.Info(target);
        var held = s.FirstAtomic;
        if (held is not null)
            (atomicCallSites ??= new List<int>()).Add(inv.Syntax.SpanStart);
        if (held is not null || ownAtomic is not null)
            CheckSleep(inv, info, held);
        RecordAtomicGfp(inv, info, held is not null || ownAtomic is not null);

        foreach (var arg in inv.Arguments)
            if (arg.Parameter?.RefKind is RefKind.Out or RefKind.Ref && LockRef.KeyOf(arg.Value) is string outKey)
                s = s.Forget(outKey);

        if (info.HasLockAnnotations)
        {
            foreach (var r in info.Releases)
                s = Release(s, inv, ReleaseKey(inv, r), r.Kind, FlagsKeyOf(inv, r.FlagsParameter), k.DisplayName(target));
            foreach (var a in info.Acquires)
                if (a.When == When.Always && MakeHeld(inv, a) is Held h)
                    s = Acquire(s, h, h.Site); // made at this call
            return s;
        }
        var original = target.OriginalDefinition;
        if (model.Index.BodyOf(original) is null)
            return s;
        var summary = model.SummaryFor(original, stack, out var rec);
        if (rec)
            hitRecursion = true;
        if (summary is null || summary.IsEmpty)
            return s;
        foreach (var r in summary.Releases)
        {
            var flags = r.FlagsKey is null ? null : LockRef.Rebase(r.FlagsKey, inv);
            var key = Kinds.IsContext(r.Kind) ? Kinds.ContextKey(r.Kind, flags) : LockRef.Rebase(r.Key, inv);
            if (key is not null)
                s = Release(s, inv, key, r.Kind, flags, k.DisplayName(target));
        }
        foreach (var a in summary.Acquires)
            if (a.When == When.Always && Rebased(inv, a) is Held h)
                s = Acquire(s, h, h.Site); // made at this call
        return s;
    }

    private string? FlagsKeyOf(IInvocationOperation inv, string? flagsParameter)
    {
        if (flagsParameter is null)
            return null;
        var arg = Eval.Argument(inv.Arguments, flagsParameter);
        return arg is null ? null : LockRef.KeyOf(arg.Value) ?? "?" + arg.Value.Syntax;
    }

    private string? FlagsTextOf(IInvocationOperation inv, string? flagsParameter)
    {
        if (flagsParameter is null)
            return null;
        var arg = Eval.Argument(inv.Arguments, flagsParameter);
        return arg is null ? null : LockRef.Display(arg.Value);
    }

    private string ReleaseKey(IInvocationOperation inv, LockSpec r)
    {
        if (r.IsContext)
            return Kinds.ContextKey(r.Kind, FlagsKeyOf(inv, r.FlagsParameter));
        var (key, display) = LockRef.ResolvePath(r.Path, inv.TargetMethod, inv);
        return key ?? "?" + display;
    }

    private Held? MakeHeld(IInvocationOperation inv, LockSpec a)
    {
        var api = k.DisplayName(inv.TargetMethod);
        var loc = inv.Syntax.GetLocation();
        var flagsKey = FlagsKeyOf(inv, a.FlagsParameter);
        var flagsText = FlagsTextOf(inv, a.FlagsParameter);
        if (a.IsContext)
            return new Held(Kinds.ContextKey(a.Kind, flagsKey), api, a.Kind, loc, api, flagsKey, flagsText, inv.TargetMethod, false);
        var (key, display) = LockRef.ResolvePath(a.Path, inv.TargetMethod, inv);
        var kind = a.Kind == LockKind.Unknown ? KindOfPath(a.Path, LockKind.Unknown) : a.Kind;
        return new Held(key ?? "?" + display, display, kind, loc, api, flagsKey, flagsText, inv.TargetMethod, false);
    }

    private Held? Rebased(IInvocationOperation inv, LockEffect e)
    {
        var flags = e.FlagsKey is null ? null : LockRef.Rebase(e.FlagsKey, inv);
        var api = k.DisplayName(inv.TargetMethod);
        if (Kinds.IsContext(e.Kind))
            return new Held(Kinds.ContextKey(e.Kind, flags), api, e.Kind, inv.Syntax.GetLocation(), api, flags, e.FlagsText, e.Acquirer, false);
        var key = LockRef.Rebase(e.Key, inv);
        if (key is null)
            return null;
        return new Held(key, Pretty(key), e.Kind, inv.Syntax.GetLocation(), api, flags, e.FlagsText, e.Acquirer, false);
    }

    private static string Pretty(string key)
    {
        if (key.StartsWith("this.", System.StringComparison.Ordinal)) return key.Substring(5);
        if (key.StartsWith("p:", System.StringComparison.Ordinal) || key.StartsWith("l:", System.StringComparison.Ordinal)) return key.Substring(2);
        if (key.StartsWith("s:", System.StringComparison.Ordinal)) return key.Substring(key.IndexOf('.') + 1);
        return key;
    }

    // ---------------------------------------------------------------- locks

    private State Acquire(State s, Held h, Location at)
    {
        if (!(acquiredKeys ??= new List<string>(2)).Contains(h.Key))
            acquiredKeys.Add(h.Key);
        if (!Kinds.IsContext(h.Kind))
        {
            Held? existing = null;
            foreach (var x in s.Held)
            {
                if (IsLockUnder(x, h.Key))
                {
                    existing = x;
                    break;
                }
            }
            if (existing is not null && !(Kinds.NestsAsReader(existing.Kind) && Kinds.NestsAsReader(h.Kind)))
            {
                // Two read holds of an rw_semaphore: the second is taken (unless a writer waits), so it is held
                // from here on; anything else waits for itself, and the path ends holding the first only.
                bool readers = Kinds.IsRwSemRead(existing.Kind) && Kinds.IsRwSemRead(h.Kind);
                string why = readers
                    ? "read holds of an rw_semaphore do not nest: a writer queued in between deadlocks both (lockdep reports it)"
                    : "this deadlocks";
                Add(Finding.Create(DiagnosticIds.LockNotReleased, at, ImmutableArray.Create(existing.Site),
                    $"{h.Api}() acquires {Kinds.Noun(h.Kind)} '{h.Display}' again while it is already held (taken at {Kinds.Where(existing.Site)}): {why}"));
                // The path goes on holding the first only; a release the code pairs with the second acquire is then
                // one too many, but it follows from the deadlock already reported, not a mistake of its own.
                if (!readers)
                    return s.WithFact(DeadlockFact + h.Key, true);
            }
        }
        else if (h.Kind == LockKind.IrqSave && h.FlagsKey is not null)
            s = OverwriteSavedFlags(s, h);
        if (s.Held.Count >= MaxHeld)
            return s;
        // Taken afresh after a self-deadlock's releases: its releases count again.
        return (s.Facts.IsEmpty ? s : s.WithoutFact(DeadlockFact + h.Key)).Push(h);
    }

    /// <summary>
    /// A save into the variable that still holds a live save's flags (<c>local_irq_save(out flags)</c> twice): the
    /// earlier state is lost, and the restore that pairs with the earlier save gets the later one's flags (interrupts
    /// stay disabled). The earlier save keeps a flags key no restore names, with where it was overwritten. (The same
    /// save met again in a loop is reported as not undone already.)
    /// </summary>
    private static State OverwriteSavedFlags(State s, Held save)
    {
        var list = s.Held;
        for (int i = 0; i < list.Count; i++)
            if (list[i].Kind == LockKind.IrqSave && list[i].FlagsKey == save.FlagsKey && list[i].Site.SourceSpan != save.Site.SourceSpan)
                list = list.SetItem(i, list[i] with { FlagsKey = OverwrittenFlags + Kinds.Where(save.Site) });
        return ReferenceEquals(list, s.Held) ? s : s.WithHeld(list);
    }

    /// <summary>The flags key of a save whose flags a later save overwrote (followed by where).</summary>
    private const string OverwrittenFlags = "overwritten@";

    /// <summary>The fact a path knows once it has acquired a lock it held (followed by the lock's key): see <see cref="Acquire"/>.</summary>
    private const string DeadlockFact = "deadlock:";

    /// <summary>Is <paramref name="h"/> a lock (not a context such as disabled interrupts) held under <paramref name="key"/>?</summary>
    private static bool IsLockUnder(Held h, string key) => h.Key == key && !Kinds.IsContext(h.Kind);

    private State Release(State s, IInvocationOperation inv, string key, LockKind kind, string? flagsKey, string api)
    {
        // Releases nearly always match: the call's location is made only for a finding, and the held lock is
        // looked for by a loop (a lambda would capture the parameters in an object at every release).
        var list = s.Held;
        // The last held of a kind (with the flags variable too, when sameFlags), or the last lock held under a key.
        int Last(LockKind? ofKind, string? heldKey = null, bool sameFlags = false)
        {
            for (int i = list.Count - 1; i >= 0; i--)
            {
                var h = list[i];
                if (heldKey is not null ? IsLockUnder(h, heldKey) : h.Kind == ofKind && (!sameFlags || h.FlagsKey == flagsKey))
                    return i;
            }
            return -1;
        }
        switch (kind)
        {
            case LockKind.Preempt or LockKind.Rcu or LockKind.BottomHalf or LockKind.KmapAtomic:
            {
                int i = Last(kind);
                if (i < 0)
                {
                    Unmatched(key, kind, flagsKey, api, inv.Syntax.GetLocation(), kind == LockKind.Preempt ? DiagnosticIds.PreemptionNotBalanced : DiagnosticIds.LockNotReleased,
                        kind == LockKind.Preempt
                            ? $"{api}() has nothing to undo on this path: preemption was not disabled here"
                            : $"{api}() has nothing to undo on this path: the matching {(kind == LockKind.Rcu ? "rcu_read_lock()" : kind == LockKind.KmapAtomic ? "kmap_atomic()" : "local_bh_disable()")} did not happen");
                    return s;
                }
                return s.WithHeld(list.RemoveAt(i));
            }
            case LockKind.IrqDisable:
            {
                int i = Last(LockKind.IrqDisable);
                if (i >= 0)
                    return s.WithHeld(list.RemoveAt(i));
                int j = Last(LockKind.IrqSave);
                if (j >= 0)
                {
                    Add(Finding.Create(DiagnosticIds.IrqSaveNotBalanced, inv.Syntax.GetLocation(), ImmutableArray.Create(list[j].Site),
                        $"{api}() inside the {list[j].Api}() region opened at {Kinds.Where(list[j].Site)}: interrupts are enabled before the saved state is restored"));
                    return s;
                }
                Unmatched(key, kind, flagsKey, api, inv.Syntax.GetLocation(), DiagnosticIds.IrqSaveNotBalanced, $"{api}() enables interrupts that were not disabled on this path");
                return s;
            }
            case LockKind.IrqSave:
            {
                int i = Last(LockKind.IrqSave, sameFlags: true);
                if (i >= 0)
                {
                    int later = -1;
                    for (int j = i + 1; j < list.Count; j++)
                        if (list[j].Kind == LockKind.IrqSave) later = j;
                    if (later >= 0)
                        Add(Finding.Create(DiagnosticIds.IrqSaveNotBalanced, inv.Syntax.GetLocation(), ImmutableArray.Create(list[i].Site, list[later].Site),
                            $"{api}({list[i].FlagsText}) while the later {list[later].Api}({list[later].FlagsText}) at {Kinds.Where(list[later].Site)} is still in effect: saves and restores are crossed"));
                    return s.WithHeld(list.RemoveAt(i));
                }
                int any = Last(LockKind.IrqSave);
                if (any >= 0)
                {
                    var arg = inv.Arguments.Length > 0 ? LockRef.Display(inv.Arguments[inv.Arguments.Length - 1].Value) : "?";
                    var overwritten = list[any].FlagsKey is { } fk && fk.StartsWith(OverwrittenFlags, System.StringComparison.Ordinal)
                        ? $"; the save at {fk.Substring(OverwrittenFlags.Length)} overwrote them: interrupts stay disabled" : "";
                    Add(Finding.Create(DiagnosticIds.IrqSaveNotBalanced, inv.Syntax.GetLocation(), ImmutableArray.Create(list[any].Site),
                        $"{api}({arg}) restores flags that do not come from the matching {list[any].Api}() (at {Kinds.Where(list[any].Site)}, saved in '{list[any].FlagsText}'{overwritten})"));
                    return s.WithHeld(list.RemoveAt(any));
                }
                Unmatched(key, kind, flagsKey, api, inv.Syntax.GetLocation(), DiagnosticIds.IrqSaveNotBalanced, $"{api}() restores interrupt state that was not saved on this path");
                return s;
            }
            default:
            {
                int i = Last(null, heldKey: key);
                if (i < 0 && s.Facts.ContainsKey(DeadlockFact + key))
                    return s;
                if (i < 0)
                {
                    var display = inv.Arguments.Length > 0 ? LockRef.Display(inv.Arguments[0].Value) : Pretty(key);
                    Unmatched(key, kind, flagsKey, api, inv.Syntax.GetLocation(), DiagnosticIds.LockNotReleased, $"{api}() releases '{display}', which is not held on this path");
                    return s;
                }
                var h = list[i];
                // After a self-deadlock (read_lock under one's own write_lock), the release the code pairs with the
                // second acquire meets the first: the deadlock is the mistake, not the variant.
                if (kind != LockKind.Unknown && h.Kind != LockKind.Unknown && kind != h.Kind && !s.Facts.ContainsKey(DeadlockFact + key))
                    ReportMismatch(inv, h, api);
                return s.WithHeld(list.RemoveAt(i));
            }
        }
    }

    private void ReportMismatch(IInvocationOperation inv, Held h, string api)
    {
        var pair = h.Acquirer is null ? null : k.Info(h.Acquirer).PairsWith.FirstOrDefault();
        var pairMethod = pair is null ? null : k.KernelMethod(pair);
        string? replacement = null;
        if (pairMethod is not null && inv.Arguments.Length > 0)
        {
            var lockText = inv.Arguments.First(a => a.Parameter?.Ordinal == 0).Value.Syntax.ToString();
            replacement = pairMethod.Parameters.Length >= 2 && h.FlagsText is not null
                ? $"{pair}({lockText}, {h.FlagsText})"
                : $"{pair}({lockText})";
        }
        var f = Finding.Create(DiagnosticIds.MismatchedLockVariant, inv.Syntax.GetLocation(), ImmutableArray.Create(h.Site),
            h.Display, h.Api + "()", Kinds.Where(h.Site), (pair ?? "its matching release") + "()", api + "()");
        if (replacement is not null)
            f = f with { Properties = f.Properties.Add("Replacement", replacement).Add("Release", pair) };
        Add(f);
    }

    private void Unmatched(string key, LockKind kind, string? flagsKey, string api, Location at, string rule, string message)
        => (unmatched ??= new()).Add((key, kind, flagsKey, api, at, rule, message));

    // ---------------------------------------------------------------- sleeping

    private void CheckSleep(IInvocationOperation inv, ApiInfo info, Held? held)
    {
        if (info.Role == Role.BusyWait)
            return;
        // Asked at every call made in atomic context, nearly all of which cannot sleep: what made the context
        // atomic is put into words (with its file and line) only for a finding.
        (string Text, Location Site) Cause() => held is not null ? (Kinds.Describe(held), held.Site) : (ownAtomic!.Description, ownAtomic.Location);
        var target = inv.TargetMethod;
        if (info.MightSleep)
        {
            if ((info.SleepExceptIn & ownKinds) != 0)
                return;
            var (cause, causeLoc) = Cause();
            Add(Finding.Create(DiagnosticIds.SleepInAtomicContext, inv.Syntax.GetLocation(), ImmutableArray.Create(causeLoc), k.DisplayName(target) + "()", cause, ""));
            return;
        }
        if (info.SleepIfGfp is not null)
        {
            var arg = Eval.Argument(inv.Arguments, info.SleepIfGfp);
            if (arg is not null && BlockingGfp(arg.Value) is { } blocking)
            {
                var (cause, causeLoc) = Cause();
                AddGfp(blocking.At, blocking.Value, k.DisplayName(target) + "()", cause, causeLoc, "", ImmutableArray<Location>.Empty);
            }
            return;
        }
        var original = target.OriginalDefinition;
        if (model.Index.BodyOf(original) is null)
            return;
        var sleep = model.MaySleep(original, Eval.Arguments(k, inv, method, default), stack);
        if (sleep is null)
            return;
        var chainText = " — called via " + k.DisplayName(target) + "() -> " + sleep.ChainText;
        var links = sleep.Chain.Select(c => c.Site).ToImmutableArray();
        if (!sleep.IsGfpDependent)
        {
            if ((sleep.ExceptIn & ownKinds) != 0)
                return;
            var (cause, causeLoc) = Cause();
            Add(Finding.Create(DiagnosticIds.SleepInAtomicContext, inv.Syntax.GetLocation(), ImmutableArray.Create(causeLoc).AddRange(links), sleep.Api + "()", cause, chainText));
            return;
        }
        var gfpArg = Eval.ArgumentAt(inv.Arguments, sleep.GfpParameter);
        if (gfpArg is not null && BlockingGfp(gfpArg.Value) is { } blockingArg)
        {
            var (cause, causeLoc) = Cause();
            AddGfp(blockingArg.At, blockingArg.Value, (sleep.Allocator ?? sleep.Api) + "()", cause, causeLoc, chainText, links);
        }
    }

    /// <summary>
    /// Where a gfp_t argument blocks, and the value that does: the argument itself when its flags are known and allow
    /// blocking, the arm of a conditional or a switch expression that does (<c>busy ? GFP_ATOMIC : GFP_KERNEL</c> under
    /// a spinlock blocks whenever busy is false), or a local that only ever holds such a value (reported at the local the call passes,
    /// named by its value). Null when no value it may take is known to block.
    /// </summary>
    private (IOperation At, IOperation Value)? BlockingGfp(IOperation gfp, int depth = 0)
    {
        if (Eval.Gfp(gfp, method, default) is ulong g)
            return k.AllowsBlocking(g) ? (gfp, gfp) : null;
        switch (Eval.Unwrap(gfp))
        {
            case IConditionalOperation { WhenFalse: { } whenFalse } choice:
                return BlockingGfp(choice.WhenTrue, depth) ?? BlockingGfp(whenFalse, depth);
            case ISwitchExpressionOperation choices:
                // mode switch { Mode.Atomic => GFP_ATOMIC, _ => GFP_KERNEL }: the arm that blocks.
                foreach (var arm in choices.Arms)
                    if (BlockingGfp(arm.Value, depth) is { } blockingArm)
                        return blockingArm;
                return null;
            case IFlowCaptureReferenceOperation captured when model.CfgOf(method) is { } graph:
                // Walked as a graph, the conditional became branches that each capture one arm for the call.
                foreach (var block in graph.Blocks)
                    foreach (var op in block.Operations)
                        if (op is IFlowCaptureOperation arm && arm.Id.Equals(captured.Id) && BlockingGfp(arm.Value, depth) is { } blocking)
                            return blocking;
                return null;
            case ILocalReferenceOperation local when depth < Eval.MaxGfpLocals && model.Index.RootOf(method) is { } root
                                                    && Eval.SingleValue(local.Local, root) is { } value && BlockingGfp(value, depth + 1) is { } held:
                return (gfp, held.Value);
            default:
                return null;
        }
    }

    private void AddGfp(IOperation at, IOperation value, string allocator, string cause, Location causeLoc, string chain, ImmutableArray<Location> links)
        => Add(new Finding(DiagnosticIds.BlockingGfpInAtomicContext, at.Syntax.GetLocation(), ImmutableArray.Create(causeLoc).AddRange(links),
            ImmutableArray.Create(allocator, Eval.GfpText(at, value), cause, chain), Eval.GfpFixProperties(at, value)));

    private void RecordAtomicGfp(IInvocationOperation inv, ApiInfo info, bool atomic)
    {
        if (info.SleepIfGfp is null)
            return;
        var arg = Eval.Argument(inv.Arguments, info.SleepIfGfp);
        if (arg is null)
            return;
        // Flags written at the call (nearly every one) are read without looking for the member's body.
        var passed = Eval.Gfp(arg.Value, method, default) is ulong written ? (written, arg.Value)
            : Eval.Unwrap(arg.Value) is ILocalReferenceOperation && model.Index.RootOf(method) is { } root ? Eval.GfpPassed(arg.Value, method, root)
            : null;
        if (passed is not var (g, value))
            return;
        if (k.AllowsBlocking(g) || (g & k.Bit("__GFP_HIGH")) == 0)
            return;
        var span = arg.Value.Syntax.SpanStart;
        gfpSites ??= new Dictionary<int, AtomicGfpSite>();
        // Met again on another path: a new record only when this path is the first to reach it in atomic context.
        if (gfpSites.TryGetValue(span, out var previous) && (previous.AtomicOnSomePath || !atomic))
            return;
        gfpSites[span] = new AtomicGfpSite(arg.Value.Syntax.GetLocation(), k.DisplayName(inv.TargetMethod), Eval.GfpText(arg.Value, value), atomic, Eval.GfpFixProperties(arg.Value, value));
    }

    private void Add(Finding f)
    {
        var key = f.Id + "@" + f.Location.SourceSpan.Start.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":" + (f.Id is DiagnosticIds.SleepInAtomicContext or DiagnosticIds.BlockingGfpInAtomicContext ? "" : f.Args.FirstOrDefault());
        findings ??= new Dictionary<string, Finding>();
        if (!findings.ContainsKey(key))
            findings[key] = f;
    }

    // ---------------------------------------------------------------- exits and summary

    /// <summary>Records an exit; <paramref name="near"/> is the returned value's syntax, or the last code before the exit.</summary>
    private void RecordExit(State s, IOperation? returned, SyntaxNode? near)
    {
        if (returned is null)
        {
            exits.Add(new Exit(s, Cat.Unknown, near));
            return;
        }
        var cat = Category(returned);
        if (cat == Cat.Unknown && (CondCore(returned) is not null || (LockRef.KeyOf(Eval.Unwrap(returned)) is string rk && s.PendingByKey.ContainsKey(rk))))
        {
            if (Cond(returned, s, true) is State t)
                exits.Add(new Exit(t, Cat.Truthy, near));
            if (Cond(returned, s, false) is State f)
                exits.Add(new Exit(f, Cat.Falsy, near));
            return;
        }
        exits.Add(new Exit(s, cat, near));
    }

    private (Location, string) ExitPlace(SyntaxNode? node)
    {
        var ret = node?.AncestorsAndSelf().OfType<ReturnStatementSyntax>().FirstOrDefault();
        if (ret is not null)
        {
            var line = Kinds.Line(ret.GetLocation());
            var body = ret.Ancestors().FirstOrDefault(a => a is BaseMethodDeclarationSyntax or AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax or AccessorDeclarationSyntax);
            bool last = body is not null && body.DescendantNodes().OfType<ReturnStatementSyntax>().LastOrDefault() == ret && IsLastStatement(ret);
            return (ret.GetLocation(), (last ? "the return at line " : "the early return at line ") + line.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        var decl = method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax();
        var end = decl switch
        {
            BaseMethodDeclarationSyntax m when m.Body is not null => m.Body.CloseBraceToken.GetLocation(),
            LocalFunctionStatementSyntax lf when lf.Body is not null => lf.Body.CloseBraceToken.GetLocation(),
            AccessorDeclarationSyntax a when a.Body is not null => a.Body.CloseBraceToken.GetLocation(),
            _ => decl?.GetLocation() ?? Location.None,
        };
        return (end, "the end of " + (method.MethodKind == MethodKind.AnonymousFunction ? "the lambda" : method.Name + "()"));
    }

    private static bool IsLastStatement(StatementSyntax s) => s.Parent is BlockSyntax b && b.Statements.LastOrDefault() == s && b.Parent is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AccessorDeclarationSyntax;

    private Cat Category(IOperation returned)
    {
        var op = Eval.Unwrap(returned);
        if (op.ConstantValue.HasValue)
        {
            var v = op.ConstantValue.Value;
            return v switch
            {
                null => Cat.Null,
                bool b => b ? Cat.True : Cat.False,
                int i => i == 0 ? Cat.Zero : i > 0 ? Cat.Positive : Cat.Negative,
                long l => l == 0 ? Cat.Zero : l > 0 ? Cat.Positive : Cat.Negative,
                _ => Cat.Unknown,
            };
        }
        if (ConstLike(op) is { Truth: false })
            return Cat.Null;
        if (op is IObjectCreationOperation)
            return Cat.NonNull;
        return Cat.Unknown;
    }

    private void Conclude()
    {
        if (unmatched is null && !HeldAtSomeExit())
            return; // nothing acquired here is still held at an exit, and nothing released that was not taken
        var info = k.Info(method);
        var declared = new HashSet<string>(info.Acquires.Where(a => !a.IsContext).Select(a => LockRef.ResolvePath(a.Path, method, null).Key ?? ""));
        foreach (var a in info.Acquires.Where(a => a.IsContext))
            declared.Add(Kinds.ContextKey(a.Kind, a.FlagsParameter is null ? null : "p:" + a.FlagsParameter));

        var exits = this.exits.ToList();
        var keys = exits.SelectMany(e => e.State.Held).Where(h => !h.FromEntry).Select(h => h.Key).Distinct().ToList();
        foreach (var key in keys)
        {
            if (declared.Contains(key))
                continue;
            var heldExits = exits.Where(e => e.State.Held.Any(h => h.Key == key && !h.FromEntry)).ToList();
            var freeExits = exits.Where(e => !e.State.Held.Any(h => h.Key == key && !h.FromEntry)).ToList();
            var h0 = heldExits[0].State.Held.First(h => h.Key == key && !h.FromEntry);
            bool visible = Kinds.IsContext(h0.Kind)
                ? h0.Kind == LockKind.IrqSave && h0.FlagsKey is not null && LockRef.IsVisibleToCallers(h0.FlagsKey)
                : LockRef.IsVisibleToCallers(key);
            if (!registered && visible && UsedAsHelper())
            {
                if (freeExits.Count == 0)
                {
                    (helperAcquires ??= new()).Add(Effect(h0, When.Always));
                    continue;
                }
                var when = Classify(heldExits.Select(e => e.Category), freeExits.Select(e => e.Category));
                if (when is When w && !Kinds.IsContext(h0.Kind))
                {
                    (helperAcquires ??= new()).Add(Effect(h0, w));
                    continue;
                }
            }
            // Not released on some path: report at each acquisition site still held, naming the first exit.
            foreach (var group in heldExits.Select(e => (Exit: e, Held: e.State.Held.First(h => h.Key == key && !h.FromEntry))).GroupBy(x => x.Held.Site.SourceSpan.Start))
            {
                var first = group.First();
                var h = first.Held;
                var pair = h.Acquirer is null ? null : k.Info(h.Acquirer).PairsWith.FirstOrDefault();
                var what = Kinds.IsContext(h.Kind) ? "" : $" ({Kinds.Noun(h.Kind)} '{h.Display}')";
                var undo = pair is null ? "released" : $"undone by {pair}()";
                var (exitLocation, exitText) = ExitPlace(first.Exit.Near);
                Add(Finding.Create(Kinds.BalanceRule(h.Kind), h.Site, ImmutableArray.Create(exitLocation),
                    $"{h.Api}(){what} at line {Kinds.Line(h.Site)} is not {undo} on the path through {exitText}"));
            }
        }

        if (unmatched is null)
            return;
        foreach (var u in unmatched)
        {
            bool owns = registered || (acquiredKeys is not null && (acquiredKeys.Contains(u.Key) || (Kinds.IsContext(u.Kind) && acquiredKeys.Any(a => a.StartsWith(Kinds.ContextKey(u.Kind, null).TrimEnd('>'), System.StringComparison.Ordinal)))));
            if (owns)
                Add(Finding.Create(u.Rule, u.Loc, ImmutableArray<Location>.Empty, u.Message));
            else if ((Kinds.IsContext(u.Kind) ? (u.FlagsKey is null || LockRef.IsVisibleToCallers(u.FlagsKey)) : LockRef.IsVisibleToCallers(u.Key)) && UsedAsHelper())
                (helperReleases ??= new()).Add(new LockEffect(u.Key, Pretty(u.Key), u.Kind, When.Always, u.Api, u.FlagsKey, null, method));
            else
                Add(Finding.Create(u.Rule, u.Loc, ImmutableArray<Location>.Empty, u.Message));
        }
    }

    /// <summary>
    /// May the method's unbalanced locking be a helper's, whose callers pair it (<c>lock_hw()</c> … <c>unlock_hw()</c>)?
    /// Only if something may call it: a call in the compilation, a delegate to it, or code outside (an override or an
    /// interface's member). Unannotated and called by nothing, it is the function itself that leaves the lock held
    /// (sparse: "context imbalance"); marked [Acquires] or [Releases], it is a helper by declaration. A property's
    /// accessor never is: the code that reads or assigns the property does not take on its lock effects.
    /// </summary>
    private bool UsedAsHelper()
    {
        if (usedAsHelper is bool known)
            return known;
        var m = method.OriginalDefinition;
        bool used = m.MethodKind is not (MethodKind.PropertyGet or MethodKind.PropertySet)
                    && (m.MethodKind is MethodKind.AnonymousFunction || model.Index.CallersOf(m).Count > 0 || model.Index.Escapes(m)
                        || m.IsOverride || m.IsVirtual || m.IsAbstract || !m.ExplicitInterfaceImplementations.IsEmpty || ImplementsInterfaceMember(m));
        usedAsHelper = used;
        return used;
    }

    private bool? usedAsHelper;

    private static bool ImplementsInterfaceMember(IMethodSymbol m)
    {
        if (m.ContainingType is not { } type)
            return false;
        foreach (var i in type.AllInterfaces)
            foreach (var member in i.GetMembers(m.Name))
                if (SymbolEqualityComparer.Default.Equals(type.FindImplementationForInterfaceMember(member), m))
                    return true;
        return false;
    }

    /// <summary>Does some exit hold something this method acquired (not what it was entered with)?</summary>
    private bool HeldAtSomeExit()
    {
        foreach (var e in exits)
            foreach (var h in e.State.Held)
                if (!h.FromEntry)
                    return true;
        return false;
    }

    // What a helper leaves acquired or released for its callers: nearly always nothing, so made on first use.
    private List<LockEffect>? helperAcquires;
    private List<LockEffect>? helperReleases;

    private LockEffect Effect(Held h, When when) => new(h.Key, h.Display, h.Kind, when, h.Api, h.FlagsKey, h.FlagsText, h.Acquirer ?? method);

    private When? Classify(IEnumerable<Cat> held, IEnumerable<Cat> free)
    {
        var ret = method.ReturnType;
        Cat Norm(Cat c)
        {
            if (ret.SpecialType == SpecialType.System_Boolean)
                return c is Cat.True or Cat.Truthy ? Cat.True : c is Cat.False or Cat.Falsy ? Cat.False : Cat.Unknown;
            if (ret.IsReferenceType || ret.TypeKind == TypeKind.Struct && ret.SpecialType == SpecialType.None)
                return c is Cat.NonNull or Cat.Truthy ? Cat.NonNull : c is Cat.Null or Cat.Falsy ? Cat.Null : Cat.Unknown;
            return c switch { Cat.Truthy => Cat.Positive, Cat.Falsy => Cat.Zero, _ => c };
        }
        var h = held.Select(Norm).Distinct().ToList();
        var f = free.Select(Norm).Distinct().ToList();
        if (h.Count != 1 || h.Contains(Cat.Unknown) || f.Contains(Cat.Unknown))
            return null;
        return h[0] switch
        {
            Cat.True when f.All(c => c == Cat.False) => When.ReturnsTrue,
            Cat.Zero when f.All(c => c == Cat.Negative) => When.ReturnsZero,
            Cat.Positive when f.All(c => c == Cat.Zero) => When.ReturnsNonZero,
            Cat.NonNull when f.All(c => c == Cat.Null) => When.ReturnsNonNull,
            _ => null,
        };
    }

    private LockSummary BuildSummary()
        => helperAcquires is null && helperReleases is null
            ? LockSummary.Empty
            : new LockSummary(helperAcquires?.ToImmutableArray() ?? ImmutableArray<LockEffect>.Empty, helperReleases?.ToImmutableArray() ?? ImmutableArray<LockEffect>.Empty);
}
