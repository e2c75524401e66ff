using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>
/// A body the engines can walk as it is written instead of through a control-flow graph: statements in
/// order, with <c>if</c>/<c>else</c> forks that join again after them (a side may end in an early return of a
/// value: <c>if (p == NULL) return -ENOMEM;</c>), leaving at its end or its closing <c>return</c>. Most kernel
/// functions are like this — a handler that takes a lock, counts, releases it and schedules a tasklet; a poll
/// routine that frees a buffer if it got one; a probe that gives up early when an allocation fails — and the
/// graph of such a body says nothing its statements do not. Anything else sends the body to the graph: loops, <c>switch</c>, <c>try</c>,
/// <c>using</c>, <c>lock</c>, <c>goto</c>, a bare <c>return;</c> before the end, a branch inside an expression (<c>?:</c>,
/// <c>&amp;&amp;</c>, <c>||</c>, <c>??</c>, <c>?.</c>, switch expressions, patterns, <c>throw</c>), constructs the graph
/// rewrites (object initializers), or more forks than <see cref="MaxForks"/>.
/// </summary>
internal sealed class StructuredBody
{
    /// <summary>More forks than this and the paths could outnumber what the graph walk keeps per block.</summary>
    public const int MaxForks = 4;

    private StructuredBody(ImmutableArray<Step> statements) => Statements = statements;

    /// <summary>
    /// The statements in order (nested blocks flattened), ending in the closing <c>return</c> of a value if the
    /// body has one: the paths <see cref="Walk"/> returns are those that leave by the body's end.
    /// </summary>
    public ImmutableArray<Step> Statements { get; }

    /// <summary>
    /// One statement; one <c>if</c>: its condition and the statements of each side (empty when there is no
    /// <c>else</c>); or, last in the body or on a side, a <c>return</c> of a value, which ends the paths that
    /// reach it.
    /// </summary>
    public readonly struct Step
    {
        // A step is made for every statement of every body walked: two references, the second saying what kind of
        // step it is (null: a statement; ReturnMark; or the sides of a fork, which are rare).
        private readonly object? kind;

        private Step(IOperation operation, object? kind)
        {
            Operation = operation;
            this.kind = kind;
        }

        private sealed class Sides
        {
            public Sides(ImmutableArray<Step> whenTrue, ImmutableArray<Step> whenFalse)
            {
                WhenTrue = whenTrue;
                WhenFalse = whenFalse;
            }

            public ImmutableArray<Step> WhenTrue { get; }
            public ImmutableArray<Step> WhenFalse { get; }
        }

        private static readonly object ReturnMark = new();

        public static Step Statement(IOperation statement) => new(statement, null);

        public static Step Fork(IOperation condition, ImmutableArray<Step> whenTrue, ImmutableArray<Step> whenFalse) => new(condition, new Sides(whenTrue, whenFalse));

        public static Step Return(IOperation value) => new(value, ReturnMark);

        /// <summary>The statement, the condition of a fork, or the value returned.</summary>
        public IOperation Operation { get; }

        public bool IsFork => kind is Sides;

        public bool IsReturn => ReferenceEquals(kind, ReturnMark);

        public ImmutableArray<Step> WhenTrue => (kind as Sides)?.WhenTrue ?? ImmutableArray<Step>.Empty;

        public ImmutableArray<Step> WhenFalse => (kind as Sides)?.WhenFalse ?? ImmutableArray<Step>.Empty;
    }

    /// <summary>What an engine does at each step of a structured body, to its state on one path.</summary>
    public interface IWalker<TState>
        where TState : class
    {
        /// <summary>Runs a statement on one path.</summary>
        TState Statement(IOperation statement, TState state);

        /// <summary>Evaluates a fork's condition on one path, as a branch of the graph would: the states where it is true and where it is false (null: that side is impossible).</summary>
        (TState? WhenTrue, TState? WhenFalse) Fork(IOperation condition, TState state);

        /// <summary>Are two paths' states the same, so that they join into one? (The test the graph walk's <see cref="SeenStates{TState}"/> makes too.)</summary>
        bool Same(TState a, TState b);

        /// <summary>One path leaves by a <c>return</c> of <paramref name="value"/>.</summary>
        void Return(IOperation value, TState state);
    }

    /// <summary>
    /// Runs <paramref name="steps"/> on every path. At a fork each side runs on the paths where the condition has
    /// that truth, and the paths join again: the same state once, the false side's first (the order the graph
    /// walk visits them in), at most <paramref name="maxPaths"/>.
    /// </summary>
    public static List<TState> Walk<TState>(ImmutableArray<Step> steps, List<TState> states, IWalker<TState> walker, int maxPaths)
        where TState : class
    {
        foreach (var step in steps)
        {
            if (step.IsReturn)
            {
                foreach (var state in states)
                    walker.Return(step.Operation, state);
                return NoStates<TState>.List; // (read by the caller, never added to)
            }
            if (!step.IsFork)
            {
                for (int i = 0; i < states.Count; i++)
                    states[i] = walker.Statement(step.Operation, states[i]);
                continue;
            }
            var whenTrue = new List<TState>(states.Count);
            var whenFalse = new List<TState>(states.Count);
            foreach (var state in states)
            {
                var (t, f) = walker.Fork(step.Operation, state);
                if (t is not null)
                    whenTrue.Add(t);
                if (f is not null)
                    whenFalse.Add(f);
            }
            var joined = new List<TState>(2);
            Join(joined, Walk(step.WhenFalse, whenFalse, walker, maxPaths), walker, maxPaths);
            Join(joined, Walk(step.WhenTrue, whenTrue, walker, maxPaths), walker, maxPaths);
            states = joined;
        }
        return states;
    }

    private static class NoStates<TState>
    {
        public static readonly List<TState> List = new(0);
    }

    /// <summary>Adds the states not already among <paramref name="joined"/>, up to <paramref name="maxPaths"/> (a few: compared one by one).</summary>
    private static void Join<TState>(List<TState> joined, List<TState> arriving, IWalker<TState> walker, int maxPaths)
        where TState : class
    {
        foreach (var state in arriving)
        {
            if (joined.Count >= maxPaths)
                return;
            bool known = false;
            foreach (var j in joined)
            {
                if (ReferenceEquals(j, state) || walker.Same(j, state))
                {
                    known = true;
                    break;
                }
            }
            if (!known)
                joined.Add(state);
        }
    }

    /// <summary>The body as structured code, or null when the graph must walk it (or it is not a body of a known shape).</summary>
    public static StructuredBody? Of(IOperation body)
    {
        IBlockOperation? block = body switch
        {
            IMethodBodyOperation { BlockBody: { } b, ExpressionBody: null } => b,
            IMethodBodyOperation { BlockBody: null, ExpressionBody: { } e } => e,
            IAnonymousFunctionOperation a => a.Body,
            ILocalFunctionOperation { Body: { } b, IgnoredBody: null } => b,
            _ => null,
        };
        if (block is null)
            return null;
        var operations = FlatStatements(block);
        // A closing bare 'return;' is the body's end.
        int count = operations.Length;
        if (count > 0 && operations[count - 1] is IReturnOperation { ReturnedValue: null })
            count--;
        int forks = 0;
        // Made for every function the engines walk: the stack IsStraight walks with is this thread's.
        var pending = Summaries.Eval.RentStack();
        try
        {
            var statements = Steps(operations, count, pending, ref forks);
            return statements.IsDefault ? null : new StructuredBody(statements);
        }
        finally
        {
            Summaries.Eval.ReturnStack(pending);
        }
    }

    /// <summary>
    /// The steps of a list of statements (the body's, or a side of a fork), which may end in a <c>return</c> of a
    /// value; default when one of them takes the body to the graph.
    /// </summary>
    private static ImmutableArray<Step> Steps(ImmutableArray<IOperation> operations, int count, Stack<IOperation> pending, ref int forks)
    {
        // An array of the most steps there can be, handed over as it is (no builder, and a copy only when a local
        // function or an empty statement made it too long).
        var steps = new Step[count];
        int made = 0;
        for (int i = 0; i < count; i++)
        {
            var s = operations[i];
            switch (s)
            {
                // A return of a value ends its side (or the body). A bare 'return;' before the end goes to the graph,
                // which names the exit of such a path differently (it keeps no syntax for it).
                case IReturnOperation { ReturnedValue: { } value } when i == count - 1 && IsStraight(value, pending):
                    steps[made++] = Step.Return(value);
                    break;
                case ILocalFunctionOperation or IEmptyOperation:
                    break; // a local function is a body of its own; it runs only when called
                case IExpressionStatementOperation or IVariableDeclarationGroupOperation:
                    if (!IsStraight(s, pending))
                        return default;
                    steps[made++] = Step.Statement(s);
                    break;
                case IConditionalOperation { Type: null } branch when ++forks <= MaxForks && IsStraight(branch.Condition, pending):
                {
                    var whenTrue = Side(branch.WhenTrue, pending, ref forks);
                    var whenFalse = branch.WhenFalse is null ? ImmutableArray<Step>.Empty : Side(branch.WhenFalse, pending, ref forks);
                    if (whenTrue.IsDefault || whenFalse.IsDefault)
                        return default;
                    steps[made++] = Step.Fork(branch.Condition, whenTrue, whenFalse);
                    break;
                }
                default:
                    return default; // loops, switch, try, using, lock, goto, labels, throw, yield, a return before the end…
            }
        }
        if (made < steps.Length)
            System.Array.Resize(ref steps, made);
        return System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsImmutableArray(steps);
    }

    private static ImmutableArray<Step> Side(IOperation statement, Stack<IOperation> pending, ref int forks)
    {
        var operations = statement is IBlockOperation block ? FlatStatements(block) : ImmutableArray.Create(statement);
        return Steps(operations, operations.Length, pending, ref forks);
    }

    /// <summary>A block's statements, those of the blocks nested in it in their place (most blocks have none: their own array).</summary>
    private static ImmutableArray<IOperation> FlatStatements(IBlockOperation block)
    {
        foreach (var s in block.Operations)
        {
            if (s is IBlockOperation)
            {
                var flat = new List<IOperation>(block.Operations.Length + 4);
                FlattenBlocks(block, flat);
                return flat.ToImmutableArray();
            }
        }
        return block.Operations;
    }

    private static void FlattenBlocks(IBlockOperation block, List<IOperation> into)
    {
        foreach (var s in block.Operations)
        {
            if (s is IBlockOperation inner)
                FlattenBlocks(inner, into);
            else
                into.Add(s);
        }
    }

    /// <summary>Does evaluating <paramref name="op"/> take a single path, through operations the graph keeps as they are?</summary>
    private static bool IsStraight(IOperation op, Stack<IOperation> stack)
    {
        stack.Clear();
        stack.Push(op);
        while (stack.Count > 0)
        {
            var o = stack.Pop();
            // By kind, not by interface: this runs at every operation of every body, and a chain of interface
            // tests costs more than the rest of the walk.
            switch (o.Kind)
            {
                case OperationKind.AnonymousFunction or OperationKind.LocalFunction:
                    continue; // not run here
                case OperationKind.Binary when ((IBinaryOperation)o).OperatorKind is BinaryOperatorKind.ConditionalAnd or BinaryOperatorKind.ConditionalOr:
                    return false;
                case OperationKind.ObjectCreation when ((IObjectCreationOperation)o).Initializer is not null:
                    return false;
                case OperationKind.VariableDeclaration when ((IVariableDeclarationOperation)o).Initializer is not null:
                    return false; // C# 'int a, b = 1' forms the graph lowers its own way
                case OperationKind.ExpressionStatement or OperationKind.VariableDeclarationGroup or OperationKind.VariableDeclaration
                    or OperationKind.VariableDeclarator or OperationKind.VariableInitializer or OperationKind.Invocation or OperationKind.Argument
                    or OperationKind.Literal or OperationKind.LocalReference or OperationKind.ParameterReference or OperationKind.FieldReference
                    or OperationKind.PropertyReference or OperationKind.InstanceReference or OperationKind.Conversion or OperationKind.SimpleAssignment
                    or OperationKind.CompoundAssignment or OperationKind.Increment or OperationKind.Decrement or OperationKind.Binary
                    or OperationKind.Unary or OperationKind.ObjectCreation or OperationKind.DelegateCreation or OperationKind.MethodReference
                    or OperationKind.DefaultValue or OperationKind.TypeOf or OperationKind.SizeOf or OperationKind.NameOf
                    or OperationKind.ArrayElementReference or OperationKind.Parenthesized or OperationKind.Discard or OperationKind.DeclarationExpression
                    or OperationKind.ArrayCreation or OperationKind.ArrayInitializer or OperationKind.InterpolatedString or OperationKind.Interpolation
                    or OperationKind.InterpolatedStringText or OperationKind.EventReference:
                    break;
                default:
                    return false; // ?:, ??, ?., switch expressions, patterns, throw, await, with, tuples…
            }
            foreach (var c in o.ChildOperations)
                stack.Push(c);
        }
        return true;
    }
}
