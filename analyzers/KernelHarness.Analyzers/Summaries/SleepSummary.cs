using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>One link of a call chain: the call of <see cref="Callee"/> at <see cref="Site"/>.</summary>
internal sealed record ChainLink(string Callee, Location Site);

/// <summary>
/// Why a method may sleep: the chain of calls down to the sleeping kernel function. When
/// <see cref="GfpParameter"/> is set the method sleeps only if the caller's <c>gfp_t</c> at that
/// parameter allows blocking (a pass-through: the caller is checked instead).
/// </summary>
internal sealed record SleepInfo(ImmutableList<ChainLink> Chain, string Api, int GfpParameter, Ctx ExceptIn, string? GfpText, string? Allocator)
{
    public bool IsGfpDependent => GfpParameter >= 0;

    public string ChainText => string.Join(" -> ", Chain.Select(c => c.Callee + "()"));
}

/// <summary>
/// May-sleep summaries, computed on demand from a method's operation tree with constant arguments
/// bound, so that a helper that sleeps only on a branch a constant argument rules out is understood.
/// Recursion is cut by the stack of methods being summarised.
/// </summary>
internal static class SleepSummaries
{
    public static SleepInfo? Compute(CompilationModel model, IMethodSymbol method, ImmutableArray<object?> consts, CallStack stack)
    {
        var body = model.Index.BodyOf(method);
        if (body is null || stack.Contains(method))
            return null;
        var walker = new Walker(model, method, consts, stack.Push(method));
        walker.Visit(body is IAnonymousFunctionOperation a ? a.Body : body is ILocalFunctionOperation lf ? (IOperation?)lf.Body ?? lf.IgnoredBody : body);
        return walker.Unconditional ?? walker.Dependent;
    }

    private sealed class Walker
    {
        private readonly CompilationModel model;
        private readonly IMethodSymbol method;
        private readonly ImmutableArray<object?> consts;
        private readonly CallStack stack;

        public Walker(CompilationModel model, IMethodSymbol method, ImmutableArray<object?> consts, CallStack stack)
        {
            this.model = model;
            this.method = method;
            this.consts = consts;
            this.stack = stack;
        }

        public SleepInfo? Unconditional;
        public SleepInfo? Dependent;

        /// <summary>Visits; returns false when control cannot continue past the operation.</summary>
        public bool Visit(IOperation? op)
        {
            if (op is null || Unconditional is not null)
                return true;
            switch (op)
            {
                case IAnonymousFunctionOperation or ILocalFunctionOperation:
                    return true;
                case IBlockOperation b:
                    foreach (var s in b.Operations)
                        if (!Visit(s))
                            return false;
                    return true;
                case IReturnOperation r:
                    Visit(r.ReturnedValue);
                    return false;
                case IThrowOperation:
                    return false;
                case IConditionalOperation c:
                    Visit(c.Condition);
                    var v = Eval.Const(c.Condition, method, consts) as bool?;
                    if (v == true)
                        return Visit(c.WhenTrue);
                    if (v == false)
                        return c.WhenFalse is null || Visit(c.WhenFalse);
                    var t = Visit(c.WhenTrue);
                    var f = c.WhenFalse is null || Visit(c.WhenFalse);
                    return t || f;
                case IInvocationOperation inv:
                    foreach (var ch in inv.ChildOperations)
                        Visit(ch);
                    OnCall(inv);
                    return true;
                case IPropertyReferenceOperation property:
                    foreach (var ch in property.ChildOperations)
                        Visit(ch);
                    if (Accessors.Called(property, model) is { } accessor)
                        OnAccessor(property, accessor);
                    return true;
                default:
                    foreach (var ch in op.ChildOperations)
                        Visit(ch);
                    return true;
            }
        }

        /// <summary>A property of the compilation read or written: its accessor sleeps as a helper would.</summary>
        private void OnAccessor(IPropertyReferenceOperation property, IMethodSymbol accessor)
        {
            var sub = model.MaySleep(accessor, ImmutableArray<object?>.Empty, stack);
            if (sub is not null && !sub.IsGfpDependent)
                Unconditional = sub with { Chain = sub.Chain.Insert(0, new ChainLink(Accessors.Describe(accessor), property.Syntax.GetLocation())) };
        }

        private void OnCall(IInvocationOperation inv)
        {
            var target = inv.TargetMethod;
            var k = model.Symbols;
            var info = k.Info(target);
            var link = new ChainLink(k.DisplayName(target), inv.Syntax.GetLocation());
            if (info.Role == Role.BusyWait)
                return;
            if (info.MightSleep)
            {
                Unconditional = new SleepInfo(ImmutableList.Create(link), link.Callee, -1, info.SleepExceptIn, null, null);
                return;
            }
            if (info.SleepIfGfp is not null)
            {
                var arg = Eval.Argument(inv.Arguments, info.SleepIfGfp);
                if (arg is null)
                    return;
                var gfp = Eval.Gfp(arg.Value, method, consts);
                if (gfp is ulong g)
                {
                    if (k.AllowsBlocking(g))
                        Unconditional = new SleepInfo(ImmutableList.Create(link), link.Callee, -1, Ctx.None, arg.Value.Syntax.ToString(), link.Callee);
                }
                else if (Eval.Unwrap(arg.Value) is IParameterReferenceOperation p && SymbolEqualityComparer.Default.Equals(p.Parameter.ContainingSymbol, method))
                {
                    Dependent ??= new SleepInfo(ImmutableList.Create(link), link.Callee, p.Parameter.Ordinal, Ctx.None, null, link.Callee);
                }
                return;
            }
            if (model.Index.BodyOf(target.OriginalDefinition) is null)
                return;
            var sub = model.MaySleep(target.OriginalDefinition, Eval.Arguments(model.Symbols, inv, method, consts), stack);
            if (sub is null)
                return;
            var chain = sub.Chain.Insert(0, link);
            if (!sub.IsGfpDependent)
            {
                Unconditional = sub with { Chain = chain };
                return;
            }
            var argOp = Eval.ArgumentAt(inv.Arguments, sub.GfpParameter);
            if (argOp is null)
                return;
            var value = Eval.Gfp(argOp.Value, method, consts);
            if (value is ulong gv)
            {
                if (k.AllowsBlocking(gv))
                    Unconditional = sub with { Chain = chain, GfpParameter = -1, GfpText = argOp.Value.Syntax.ToString() };
            }
            else if (Eval.Unwrap(argOp.Value) is IParameterReferenceOperation pr && SymbolEqualityComparer.Default.Equals(pr.Parameter.ContainingSymbol, method))
            {
                Dependent ??= sub with { Chain = chain, GfpParameter = pr.Parameter.Ordinal };
            }
        }
    }
}

/// <summary>Constant evaluation under bound parameters.</summary>
internal static class Eval
{
    /// <summary>The argument passed for the parameter named <paramref name="name"/>, if any (a loop: asked at every call the engines follow).</summary>
    public static IArgumentOperation? Argument(ImmutableArray<IArgumentOperation> arguments, string? name)
    {
        foreach (var a in arguments)
            if (a.Parameter is { } p && p.Name == name)
                return a;
        return null;
    }

    /// <summary>
    /// The initializer of the local a reference reads, when nothing in the code around it (the whole body, lambdas
    /// included) assigns the local again, passes it by reference or deconstructs into it: the one value it ever
    /// holds. Walks the whole body: asked only of the few locals a rule needs the value of (an mm compared with
    /// init_mm, a gfp_t passed to an allocator).
    /// </summary>
    public static IOperation? SingleValue(ILocalReferenceOperation reference) => SingleValue(reference.Local, Outermost(reference));

    /// <summary>
    /// <see cref="SingleValue(ILocalReferenceOperation)"/> in the given member's operations (<paramref name="root"/>:
    /// the body a local reference of a control-flow graph, which is a copy, does not lead up to).
    /// </summary>
    public static IOperation? SingleValue(ILocalSymbol local, IOperation root)
    {
        IOperation? value = null;
        foreach (var op in root.DescendantsAndSelf())
        {
            switch (op)
            {
                case IVariableDeclaratorOperation d when SymbolEqualityComparer.Default.Equals(d.Symbol, local):
                    value = d.Initializer?.Value;
                    break;
                case IAssignmentOperation { Target: ILocalReferenceOperation t } when SymbolEqualityComparer.Default.Equals(t.Local, local):
                    return null;
                case IIncrementOrDecrementOperation { Target: ILocalReferenceOperation t } when SymbolEqualityComparer.Default.Equals(t.Local, local):
                    return null;
                case IArgumentOperation { Value: ILocalReferenceOperation t, Parameter.RefKind: RefKind.Ref or RefKind.Out } when SymbolEqualityComparer.Default.Equals(t.Local, local):
                    return null;
                case ILocalReferenceOperation t when DeconstructionAssigning(t) is not null && SymbolEqualityComparer.Default.Equals(t.Local, local):
                    return null; // (mm, n) = (other, 0)
            }
        }
        return value;
    }

    /// <summary>The outermost operation above <paramref name="op"/>: its member's body (or the graph statement it was copied into).</summary>
    public static IOperation Outermost(IOperation op)
    {
        while (op.Parent is not null)
            op = op.Parent;
        return op;
    }

    /// <summary>Locals followed from one to the next (<c>var a = GFP_KERNEL; var b = a;</c>) before a gfp_t value counts as unknown.</summary>
    public const int MaxGfpLocals = 3;

    /// <summary>
    /// The flags a gfp_t argument passes and the expression that gives them: written at the call, or held by a local
    /// that only ever holds them (<c>gfp_t gfp = GFP_KERNEL | __GFP_ZERO;</c>, as Linux code often sets them up
    /// once). Null when they are not known. <paramref name="root"/>: the member's operations the local is declared in
    /// (null: the argument's own, which a graph's copy is not).
    /// </summary>
    public static (ulong Flags, IOperation Value)? GfpPassed(IOperation argument, IMethodSymbol method, IOperation? root, int depth = 0)
    {
        if (Gfp(argument, method, default) is ulong g)
            return (g, argument);
        if (depth < MaxGfpLocals && Unwrap(argument) is ILocalReferenceOperation local && SingleValue(local.Local, root ??= Outermost(argument)) is { } value)
            return GfpPassed(value, method, root, depth + 1);
        return null;
    }

    /// <summary>
    /// How a finding names a gfp_t argument: its text, and for a local the value it holds (<c>gfp (= GFP_KERNEL)</c>).
    /// </summary>
    public static string GfpText(IOperation argument, IOperation value)
        => ReferenceEquals(argument, value) ? argument.Syntax.ToString() : argument.Syntax + " (= " + value.Syntax + ")";

    /// <summary>A finding's properties for a gfp_t passed through a local: the value the code fix writes at the call instead.</summary>
    public static ImmutableDictionary<string, string?> GfpFixProperties(IOperation argument, IOperation value)
        => ReferenceEquals(argument, value) ? ImmutableDictionary<string, string?>.Empty : ImmutableDictionary<string, string?>.Empty.Add(GfpValueProperty, value.Syntax.ToString());

    /// <summary>The property that holds the value a gfp_t local passes (see <see cref="GfpFixProperties"/>).</summary>
    public const string GfpValueProperty = "GfpValue";

    /// <summary>
    /// The deconstruction that assigns the variable <paramref name="reference"/> names, when it is one of its targets
    /// (<c>(a, (b, c)) = …</c>), or null: an assignment to the variable that no <c>ISimpleAssignmentOperation</c> shows.
    /// </summary>
    public static IDeconstructionAssignmentOperation? DeconstructionAssigning(IOperation reference)
    {
        var part = reference;
        while (part.Parent is ITupleOperation tuple)
            part = tuple;
        return part.Parent is IDeconstructionAssignmentOperation assignment && ReferenceEquals(assignment.Target, part) ? assignment : null;
    }

    /// <summary>The argument passed for the parameter at <paramref name="ordinal"/>, if any.</summary>
    public static IArgumentOperation? ArgumentAt(ImmutableArray<IArgumentOperation> arguments, int ordinal)
    {
        foreach (var a in arguments)
            if (a.Parameter is { } p && p.Ordinal == ordinal)
                return a;
        return null;
    }

    /// <summary>
    /// The operations of one function's own code: a member's body, or a lambda's (given the lambda), without
    /// the bodies of the lambdas and local functions inside it, which are functions of their own. Walked for many
    /// functions (by provenance's prefilter and the rules that read a body's own code): a <c>foreach</c> over it
    /// allocates nothing, and its stack is borrowed from this thread's few.
    /// </summary>
    public static OwnOperationsWalk OwnOperations(IOperation body) => new(body);

    /// <summary>The walk of <see cref="OwnOperations"/>: a struct enumerable (an enumerable too, for LINQ).</summary>
    internal readonly struct OwnOperationsWalk : IEnumerable<IOperation>
    {
        private readonly IOperation body;

        public OwnOperationsWalk(IOperation body) => this.body = body;

        public Enumerator GetEnumerator() => new(body);

        IEnumerator<IOperation> IEnumerable<IOperation>.GetEnumerator() => GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        /// <summary>Pre-order, last child first; the stack goes back to the thread's pool when the walk ends or is disposed.</summary>
        public struct Enumerator : IEnumerator<IOperation>
        {
            private Stack<IOperation>? stack;
            private IOperation? current;

            public Enumerator(IOperation body)
            {
                stack = RentStack();
                stack.Push(body is IAnonymousFunctionOperation lambda ? lambda.Body : body);
                current = null;
            }

            public readonly IOperation Current => current!;

            readonly object System.Collections.IEnumerator.Current => current!;

            public bool MoveNext()
            {
                if (stack is null || stack.Count == 0)
                {
                    Dispose();
                    return false;
                }
                var op = stack.Pop();
                foreach (var c in op.ChildOperations)
                    if (c.Kind is not (OperationKind.AnonymousFunction or OperationKind.LocalFunction))
                        stack.Push(c);
                current = op;
                return true;
            }

            public void Dispose()
            {
                if (stack is not null)
                {
                    ReturnStack(stack);
                    stack = null;
                }
            }

            public readonly void Reset() => throw new System.NotSupportedException();
        }
    }

    [System.ThreadStatic]
    private static Stack<Stack<IOperation>>? stacks;

    /// <summary>A stack of operations borrowed from this thread's few (given back by <see cref="ReturnStack"/>).</summary>
    internal static Stack<IOperation> RentStack() => stacks is { Count: > 0 } pool ? pool.Pop() : new Stack<IOperation>(32);

    internal static void ReturnStack(Stack<IOperation> st)
    {
        st.Clear();
        var pool = stacks ??= new Stack<Stack<IOperation>>();
        if (pool.Count < 8)
            pool.Push(st);
    }

    public static IOperation Unwrap(IOperation op)
    {
        while (op is IConversionOperation or IParenthesizedOperation)
            op = op is IConversionOperation c ? c.Operand : ((IParenthesizedOperation)op).Operand;
        return op;
    }

    public static object? Const(IOperation? op, IMethodSymbol method, ImmutableArray<object?> consts)
    {
        if (op is null)
            return null;
        if (op.ConstantValue.HasValue)
            return op.ConstantValue.Value;
        switch (op)
        {
            case IConversionOperation c:
                return Const(c.Operand, method, consts);
            case IParenthesizedOperation p:
                return Const(p.Operand, method, consts);
            case IParameterReferenceOperation pr when !consts.IsDefault && SymbolEqualityComparer.Default.Equals(pr.Parameter.ContainingSymbol, method) && pr.Parameter.Ordinal < consts.Length:
                return consts[pr.Parameter.Ordinal];
            case IUnaryOperation { OperatorKind: UnaryOperatorKind.Not } u:
                return Const(u.Operand, method, consts) is bool b ? !b : null;
            case IBinaryOperation bin:
                var l = Const(bin.LeftOperand, method, consts);
                var r = Const(bin.RightOperand, method, consts);
                if (l is bool lb && r is bool rb)
                    return bin.OperatorKind switch
                    {
                        BinaryOperatorKind.ConditionalAnd or BinaryOperatorKind.And => lb && rb,
                        BinaryOperatorKind.ConditionalOr or BinaryOperatorKind.Or => lb || rb,
                        BinaryOperatorKind.Equals => lb == rb,
                        BinaryOperatorKind.NotEquals => lb != rb,
                        _ => null,
                    };
                if (bin.OperatorKind == BinaryOperatorKind.ConditionalAnd && (l is false || r is false))
                    return false;
                if (bin.OperatorKind == BinaryOperatorKind.ConditionalOr && (l is true || r is true))
                    return true;
                if (ToULong(l) is ulong lu && ToULong(r) is ulong ru)
                    return bin.OperatorKind switch
                    {
                        BinaryOperatorKind.Or => lu | ru,
                        BinaryOperatorKind.And => lu & ru,
                        BinaryOperatorKind.Equals => lu == ru,
                        BinaryOperatorKind.NotEquals => lu != ru,
                        _ => null,
                    };
                return null;
            default:
                return null;
        }
    }

    public static ulong? Gfp(IOperation op, IMethodSymbol method, ImmutableArray<object?> consts) => ToULong(Const(op, method, consts));

    public static ulong? ToULong(object? v) => v switch
    {
        uint u => u,
        int i => unchecked((ulong)i),
        ulong ul => ul,
        long l => unchecked((ulong)l),
        _ => null,
    };

    /// <summary>
    /// The constant arguments of a call, to bind in the callee's summary. gfp_t arguments stay unbound:
    /// the summary then says "sleeps if this gfp_t blocks" and the caller's flags are judged at the call (KH1002).
    /// </summary>
    public static ImmutableArray<object?> Arguments(KernelSymbols k, IInvocationOperation inv, IMethodSymbol method, ImmutableArray<object?> consts)
    {
        var target = inv.TargetMethod;
        var result = new object?[target.Parameters.Length];
        foreach (var a in inv.Arguments)
            if (a.Parameter is not null && k.IsGfp(a.Parameter.Type))
                continue;
            else if (a.Parameter is not null && a.Parameter.Ordinal < result.Length && a.ArgumentKind != ArgumentKind.DefaultValue)
                result[a.Parameter.Ordinal] = Const(a.Value, method, consts);
            else if (a.Parameter is not null && a.Parameter.Ordinal < result.Length && a.Parameter.HasExplicitDefaultValue)
                result[a.Parameter.Ordinal] = a.Parameter.ExplicitDefaultValue;
        return result.ToImmutableArray();
    }

    public static string Key(ImmutableArray<object?> consts)
        => consts.IsDefaultOrEmpty ? "" : string.Join(",", consts.Select(c => c is null ? "?" : c is bool b ? (b ? "T" : "F") : System.Convert.ToString(c, System.Globalization.CultureInfo.InvariantCulture)));
}

/// <summary>Properties and indexers as calls: the accessor a reference runs, when its code is the compilation's.</summary>
internal static class Accessors
{
    /// <summary>
    /// The getter a read runs, or the setter an assignment runs, when the compilation writes its code: not an
    /// auto-property's (its accessors are a field in disguise), nor one from metadata. (Of <c>x.P += 1</c>, the getter.)
    /// </summary>
    public static IMethodSymbol? WrittenIn(Compilation compilation, IPropertyReferenceOperation property)
    {
        var p = property.Property;
        if (!SymbolEqualityComparer.Default.Equals(p.ContainingAssembly, compilation.Assembly))
            return null;
        var accessor = property.Parent is ISimpleAssignmentOperation assignment && ReferenceEquals(assignment.Target, property) ? p.SetMethod : p.GetMethod;
        if (accessor is null)
            return null;
        foreach (var reference in accessor.DeclaringSyntaxReferences)
        {
            var code = reference.GetSyntax() switch
            {
                Microsoft.CodeAnalysis.CSharp.Syntax.AccessorDeclarationSyntax a => (SyntaxNode?)a.Body ?? a.ExpressionBody,
                Microsoft.CodeAnalysis.CSharp.Syntax.ArrowExpressionClauseSyntax arrow => arrow,
                Microsoft.CodeAnalysis.CSharp.Syntax.BasePropertyDeclarationSyntax declaration => (declaration as Microsoft.CodeAnalysis.CSharp.Syntax.PropertyDeclarationSyntax)?.ExpressionBody
                    ?? (declaration as Microsoft.CodeAnalysis.CSharp.Syntax.IndexerDeclarationSyntax)?.ExpressionBody,
                _ => null,
            };
            if (code is not null)
                return accessor.OriginalDefinition;
        }
        return null;
    }

    /// <summary>The accessor a reference runs, when the index has its body (see <see cref="WrittenIn"/>).</summary>
    public static IMethodSymbol? Called(IPropertyReferenceOperation property, CompilationModel model)
        => WrittenIn(model.Symbols.Compilation, property) is { } accessor && model.Index.BodyOf(accessor) is not null ? accessor : null;

    /// <summary>How a chain names an accessor: <c>Mode.get</c>, <c>Mode.set</c>, <c>this[].get</c>.</summary>
    public static string Describe(IMethodSymbol accessor)
        => (accessor.AssociatedSymbol is IPropertySymbol { IsIndexer: false } p ? p.Name : "this[]") + (accessor.MethodKind == MethodKind.PropertySet ? ".set" : ".get");
}
