using System.Collections.Generic;
using System.Linq;
using System.Threading;
using KernelHarness.Analyzers.ContextEngine;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// What one declaration with code (a method, an accessor, an initializer, an attribute) contributes to the
/// <see cref="CompilationIndex"/>: its bodies (the member's, its lambdas' and local functions'), the calls
/// they make, the delegates they create and store, the callbacks they register, and its operations by
/// kind. Made once, on first need.
/// </summary>
internal sealed class DeclarationScan
{
    private readonly KernelSymbols k;

    public DeclarationScan(KernelSymbols k, SyntaxNode declaration)
    {
        this.k = k;
        Declaration = declaration;
    }

    /// <summary>The declaration scanned.</summary>
    public SyntaxNode Declaration { get; }

    private volatile bool filled;

    /// <summary>Has the declaration's code been bound and recorded here?</summary>
    public bool IsFilled => filled;

    /// <summary>
    /// Fills the scan on first use (<see cref="CompilationIndex.Fill"/>), once: a thread that asks while another
    /// fills it waits. (Filling observes no cancellation; an exception from it reaches the rule that asked.)
    /// </summary>
    public void EnsureFilled(CompilationIndex index)
    {
        if (filled)
            return;
        lock (this)
        {
            if (filled)
                return;
            index.Fill(this);
            filled = true;
        }
    }

    // Most declarations call a few kernel functions and store, register or leak no delegate: the collections
    // are made on first use, and the empty ones shared (there are as many scans as declarations with code).
    private static readonly Dictionary<IMethodSymbol, List<CallEdge>> NoCallers = new(SymbolEqualityComparer.Default);
    private static readonly Dictionary<ISymbol, List<IOperation>> NoStores = new(SymbolEqualityComparer.Default);
    private static readonly List<(IOperation, CallbackSpec, IInvocationOperation, string)> NoRegistrations = new();

    // The functions whose bodies lie here: the member's, then its lambdas' and local functions'. Most
    // declarations hold one or two, looked up by comparing (no dictionary per declaration).
    private List<Function>? functions;
    private Dictionary<IMethodSymbol, List<CallEdge>>? callers;
    private Dictionary<ISymbol, List<IOperation>>? delegateStores;
    private HashSet<IMethodSymbol>? escapes;
    private List<(IOperation Arg, CallbackSpec Spec, IInvocationOperation Call, string Api)>? pendingRegistrations;
    private IOperation[] sites = System.Array.Empty<IOperation>();

    // The operations a walk finds are gathered in one list per thread and kept as an array of the exact size:
    // growing a list per scan left twice its size behind for the collector.
    [System.ThreadStatic]
    private static List<IOperation>? scratch;

    internal sealed class Function
    {
        public Function(IMethodSymbol symbol, IOperation body, IOperation root)
        {
            Symbol = symbol;
            Body = body;
            Root = root;
        }

        public IMethodSymbol Symbol { get; }
        public IOperation Body { get; set; }
        public IOperation Root { get; set; }
        public CallKinds Calls { get; set; }

        /// <summary>The body as structured code (<see cref="StructuredBody"/>), <see cref="NoStructure"/>, or null before it is asked.</summary>
        public object? Structured;
    }

    private static readonly object NoStructure = new();

    /// <summary>
    /// <paramref name="m"/>'s body as structured code, or null when the engines need its graph: found once, and
    /// kept with the function (both engines ask), so it goes when the file's scans are let go of.
    /// </summary>
    public StructuredBody? StructuredOf(IMethodSymbol m, IOperation body)
    {
        var f = FunctionOf(m);
        if (f is null)
            return StructuredBody.Of(body);
        var known = Volatile.Read(ref f.Structured);
        if (known is null)
        {
            known = (object?)StructuredBody.Of(body) ?? NoStructure;
            Volatile.Write(ref f.Structured, known);
        }
        return known as StructuredBody;
    }

    private Function? FunctionOf(IMethodSymbol m)
    {
        if (functions is not null)
            foreach (var f in functions)
                if (SymbolEqualityComparer.Default.Equals(f.Symbol, m))
                    return f;
        return null;
    }

    /// <summary>How many functions have their bodies here.</summary>
    public int MethodCount => functions?.Count ?? 0;

    /// <summary>The methods, lambdas and local functions whose bodies lie here, the member first (enumerated without allocating).</summary>
    public MethodList Methods => new(functions);

    public readonly struct MethodList
    {
        private readonly List<Function>? functions;

        internal MethodList(List<Function>? functions) => this.functions = functions;

        public Enumerator GetEnumerator() => new(functions);

        public struct Enumerator
        {
            private readonly List<Function>? functions;
            private int index;

            internal Enumerator(List<Function>? functions)
            {
                this.functions = functions;
                index = -1;
            }

            public IMethodSymbol Current => functions![index].Symbol;

            public bool MoveNext() => functions is not null && ++index < functions.Count;
        }
    }

    /// <summary>Each function's body, and the operation whose control-flow graph holds it (itself for the member).</summary>
    public bool TryGetBody(IMethodSymbol m, out IOperation body, out IOperation root)
    {
        if (FunctionOf(m) is { } f)
        {
            body = f.Body;
            root = f.Root;
            return true;
        }
        body = root = null!;
        return false;
    }

    /// <summary>What the calls in <paramref name="m"/>'s own code (not its lambdas') may do: the engines' first test.</summary>
    public CallKinds CallsOf(IMethodSymbol m) => FunctionOf(m)?.Calls ?? CallKinds.None;

    /// <summary>The calls each method of the compilation receives here.</summary>
    public IReadOnlyDictionary<IMethodSymbol, List<CallEdge>> Callers => callers ?? NoCallers;
    // (Concrete collections: enumerated without boxing by the questions asked of every function.)
    public Dictionary<ISymbol, List<IOperation>> DelegateStores => delegateStores ?? NoStores;
    /// <summary>Is <paramref name="m"/> turned into a delegate here other than for a registration?</summary>
    public bool Escapes(IMethodSymbol m) => escapes is not null && escapes.Contains(m);
    public List<(IOperation Arg, CallbackSpec Spec, IInvocationOperation Call, string Api)> PendingRegistrations => pendingRegistrations ?? NoRegistrations;
    /// <summary>The field an initializer names when it is nothing but that name, recorded without binding the initializer (<see cref="CompilationIndex.NamedFieldsIn"/>).</summary>
    public (IFieldSymbol Field, SyntaxNode Name)? NamedField { get; private set; }

    public void NameField(IFieldSymbol field, SyntaxNode name) => NamedField = (field, name);

    /// <summary>The member whose declaration holds the code scanned (null until <see cref="Scan"/>).</summary>
    public ISymbol? Member { get; private set; }

    /// <summary>The operations of the kinds some rule looks up by kind, in the order of the code (one array: rules filter by kind).</summary>
    public IOperation[] Sites => sites;

    /// <summary>The kinds of operation some rule looks up by kind (KH9001 reads most member references).</summary>
    private static readonly OperationKindSet KindsRead = new(
        OperationKind.Invocation, OperationKind.Binary, OperationKind.SimpleAssignment, OperationKind.VariableInitializer,
        OperationKind.FieldInitializer, OperationKind.PropertyInitializer, OperationKind.Argument,
        OperationKind.ObjectCreation, OperationKind.PropertyReference, OperationKind.FieldReference, OperationKind.EventReference,
        OperationKind.MethodReference, OperationKind.TypeOf, OperationKind.Conversion, OperationKind.VariableDeclarator,
        OperationKind.Lock, OperationKind.DeclarationPattern, OperationKind.TypePattern, OperationKind.IsType, OperationKind.Unary,
        OperationKind.DefaultValue, OperationKind.ArrayCreation);

    public void AddMethod(IMethodSymbol m, IOperation body, IOperation root)
    {
        if (FunctionOf(m) is { } known)
        {
            known.Body = body;
            known.Root = root;
            return;
        }
        (functions ??= new List<Function>(1)).Add(new Function(m, body, root));
    }

    /// <summary>Records the code of <paramref name="member"/>'s declaration, whose operation tree is <paramref name="op"/>.</summary>
    public void Scan(IOperation op, ISymbol member)
    {
        Member = member;
        var found = scratch ?? new List<IOperation>();
        scratch = null;
        Walk(op, member, op, found);
        if (found.Count > 0)
            sites = found.ToArray();
        found.Clear();
        scratch = found;
    }

    /// <summary>Records <paramref name="op"/> and its descendants: <paramref name="owner"/> is the function whose body
    /// holds it (a lambda's own symbol inside a lambda), <paramref name="root"/> the operation whose control-flow
    /// graph contains it.</summary>
    private void Walk(IOperation op, ISymbol owner, IOperation root, List<IOperation> found)
    {
        if (KindsRead.Contains(op.Kind))
            found.Add(op);
        switch (op.Kind)
        {
            case OperationKind.AnonymousFunction:
                var lambda = (IAnonymousFunctionOperation)op;
                AddMethod(lambda.Symbol, lambda, root);
                foreach (var c in lambda.Body.ChildOperations)
                    Walk(c, lambda.Symbol, root, found);
                return;
            case OperationKind.LocalFunction:
                var lf = (ILocalFunctionOperation)op;
                AddMethod(lf.Symbol, lf, root);
                foreach (var c in lf.ChildOperations)
                    Walk(c, lf.Symbol, root, found);
                return;
            case OperationKind.PropertyReference when owner is IMethodSymbol reader && Accessors.WrittenIn(k.Compilation, (IPropertyReferenceOperation)op) is { } accessor:
                // A property or indexer of the compilation's with code runs it: a call of the compilation's own,
                // and (for a named property, whose mentions can be found) an edge its context reaches it by.
                NoteCall(reader, ApiInfo.Empty, own: true);
                if (!((IPropertyReferenceOperation)op).Property.IsIndexer)
                    AddCaller(accessor, reader, op.Syntax);
                break;
            case OperationKind.Invocation when owner is IMethodSymbol caller:
                var inv = (IInvocationOperation)op;
                var target = inv.TargetMethod.OriginalDefinition;
                var info = k.Info(inv.TargetMethod);
                bool own = SymbolEqualityComparer.Default.Equals(target.ContainingAssembly, k.Compilation.Assembly);
                NoteCall(caller, info, own);
                // Callers are asked of the compilation's own methods only, never of spin_lock or kmalloc: calls
                // of the kernel's functions are not kept.
                if (own)
                    AddCaller(target, caller, inv.Syntax);
                foreach (var cb in info.Callbacks)
                {
                    var arg = Eval.Argument(inv.Arguments, cb.Parameter);
                    if (arg is not null)
                        (pendingRegistrations ??= new()).Add((arg.Value, cb, inv, k.DisplayName(inv.TargetMethod)));
                }
                break;
            case OperationKind.DelegateCreation:
                var d = (IDelegateCreationOperation)op;
                var dest = Strip(d.Parent);
                ISymbol? store = dest switch
                {
                    ISimpleAssignmentOperation a => SymbolOf(a.Target),
                    IFieldInitializerOperation fi => fi.InitializedFields.FirstOrDefault(),
                    IPropertyInitializerOperation pi => pi.InitializedProperties.FirstOrDefault(),
                    IVariableInitializerOperation vi when vi.Parent is IVariableDeclaratorOperation vd => vd.Symbol,
                    _ => null,
                };
                if (store is not null)
                {
                    delegateStores ??= new Dictionary<ISymbol, List<IOperation>>(SymbolEqualityComparer.Default);
                    if (!delegateStores.TryGetValue(store, out var stores))
                        delegateStores[store] = stores = new List<IOperation>();
                    stores.Add(d);
                }
                else if (!(dest is IArgumentOperation arg2 && arg2.Parent is IInvocationOperation call2 && TakesCallback(k.Info(call2.TargetMethod), arg2.Parameter?.Name))
                         && d.Target is IMethodReferenceOperation mr)
                {
                    (escapes ??= new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default)).Add(mr.Method.OriginalDefinition);
                }
                break;
        }
        foreach (var c in op.ChildOperations)
            Walk(c, owner, root, found);
    }

    private void AddCaller(IMethodSymbol target, IMethodSymbol caller, SyntaxNode call)
    {
        callers ??= new Dictionary<IMethodSymbol, List<CallEdge>>(SymbolEqualityComparer.Default);
        if (!callers.TryGetValue(target, out var list))
            callers[target] = list = new List<CallEdge>(1);
        list.Add(new CallEdge(caller, call));
    }

    private static bool TakesCallback(ApiInfo info, string? parameter)
    {
        foreach (var c in info.Callbacks)
            if (c.Parameter == parameter)
                return true;
        return false;
    }

    private void NoteCall(IMethodSymbol caller, ApiInfo info, bool own)
    {
        var kinds = CallKinds.None;
        bool kernelMemory = info.Allocates != AllocFamily.None || info.FreesMemory;
        if (own || info.HasEffects || info.HasLockAnnotations)
            kinds |= CallKinds.Effects;
        if (own || kernelMemory)
            kinds |= CallKinds.Memory;
        if (kernelMemory)
            kinds |= CallKinds.KernelMemory;
        if (kinds != CallKinds.None && FunctionOf(caller) is { } f)
            f.Calls |= kinds;
    }

    private static IOperation? Strip(IOperation? op)
    {
        while (op is IConversionOperation or IParenthesizedOperation)
            op = op.Parent;
        return op;
    }

    public static ISymbol? SymbolOf(IOperation op) => op switch
    {
        IFieldReferenceOperation f => f.Field,
        IPropertyReferenceOperation p => p.Property,
        ILocalReferenceOperation l => l.Local,
        _ => null,
    };
}

/// <summary>
/// What the calls of one function may do, noted as its code is scanned: a function with neither kind has
/// nothing for an engine to follow, and is known trivial without walking its code again.
/// </summary>
[System.Flags]
internal enum CallKinds
{
    None = 0,

    /// <summary>A call of a function with effects on the context (locks, interrupts, preemption, sleeping, callbacks) or of the compilation's own code.</summary>
    Effects = 1,

    /// <summary>A call of an allocator or a free, or of the compilation's own code (which may allocate or free).</summary>
    Memory = 2,

    /// <summary>A call of one of the kernel's allocators or frees itself.</summary>
    KernelMemory = 4,
}
