using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>
/// A body with no branch in it: its statements run in order, on one path, and it leaves at its end (or its
/// one closing <c>return</c>). Most kernel functions are like this (a handler that takes a lock, counts,
/// releases it and schedules a tasklet), and the engines walk them as they are written instead of building
/// a control-flow graph whose single path would say the same. Anything that branches, even inside an
/// expression (<c>?:</c>, <c>&amp;&amp;</c>, <c>??</c>, <c>?.</c>, a switch expression, a pattern, a throw), or that the graph
/// would rewrite (object initializers, <c>using</c>, <c>lock</c>) sends the body to the graph.
/// </summary>
internal sealed class StraightLineBody
{
    private StraightLineBody(ImmutableArray<IOperation> statements, IOperation? returned)
    {
        Statements = statements;
        Returned = returned;
    }

    /// <summary>The statements before the closing return, in order (nested blocks flattened).</summary>
    public ImmutableArray<IOperation> Statements { get; }

    /// <summary>The value of the closing <c>return</c>, if the body ends in one that returns a value.</summary>
    public IOperation? Returned { get; }

    /// <summary>The body as straight-line code, or null when it branches (or is not a body of a known shape).</summary>
    public static StraightLineBody? Of(IOperation body)
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
        var statements = ImmutableArray.CreateBuilder<IOperation>();
        if (!Flatten(block, statements))
            return null;
        IOperation? returned = null;
        if (statements.Count > 0 && statements[statements.Count - 1] is IReturnOperation last)
        {
            statements.RemoveAt(statements.Count - 1);
            returned = last.ReturnedValue;
            if (returned is not null && !IsStraight(returned))
                return null;
        }
        foreach (var s in statements)
            if (s is IReturnOperation || !IsStraight(s))
                return null;
        return new StraightLineBody(statements.ToImmutable(), returned);
    }

    private static bool Flatten(IBlockOperation block, ImmutableArray<IOperation>.Builder into)
    {
        foreach (var s in block.Operations)
        {
            switch (s)
            {
                case IBlockOperation inner:
                    if (!Flatten(inner, into))
                        return false;
                    break;
                case ILocalFunctionOperation or IEmptyOperation:
                    break; // a local function is a body of its own; it runs only when called
                case IExpressionStatementOperation or IVariableDeclarationGroupOperation or IReturnOperation:
                    into.Add(s);
                    break;
                default:
                    return false; // if, loops, switch, try, using, lock, goto, labels, throw, yield…
            }
        }
        return true;
    }

    /// <summary>Does evaluating <paramref name="op"/> take a single path, through operations the graph keeps as they are?</summary>
    private static bool IsStraight(IOperation op)
    {
        var stack = new Stack<IOperation>();
        stack.Push(op);
        while (stack.Count > 0)
        {
            var o = stack.Pop();
            switch (o)
            {
                case IAnonymousFunctionOperation or ILocalFunctionOperation:
                    continue; // not run here
                case IBinaryOperation { OperatorKind: BinaryOperatorKind.ConditionalAnd or BinaryOperatorKind.ConditionalOr }:
                    return false;
                case IObjectCreationOperation { Initializer: not null }:
                    return false;
                case IVariableDeclarationOperation { Initializer: not null }:
                    return false; // C# 'int a, b = 1' forms the graph lowers its own way
                case IExpressionStatementOperation or IVariableDeclarationGroupOperation or IVariableDeclarationOperation or IVariableDeclaratorOperation
                    or IVariableInitializerOperation or IInvocationOperation or IArgumentOperation or ILiteralOperation or ILocalReferenceOperation
                    or IParameterReferenceOperation or IFieldReferenceOperation or IPropertyReferenceOperation or IInstanceReferenceOperation
                    or IConversionOperation or ISimpleAssignmentOperation or ICompoundAssignmentOperation or IIncrementOrDecrementOperation
                    or IBinaryOperation or IUnaryOperation or IObjectCreationOperation or IDelegateCreationOperation or IMethodReferenceOperation
                    or IDefaultValueOperation or ITypeOfOperation or ISizeOfOperation or INameOfOperation or IArrayElementReferenceOperation
                    or IParenthesizedOperation or IDiscardOperation or IDeclarationExpressionOperation or IArrayCreationOperation
                    or IArrayInitializerOperation or IInterpolatedStringOperation or IInterpolationOperation or IInterpolatedStringTextOperation
                    or IEventReferenceOperation:
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
