using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>
/// Where an exception thrown in a block of a control-flow graph may be caught. The graph has no edge for an
/// exception (a catch block has no predecessor), so a walk that follows the graph's branches never enters a
/// handler; both engines add the edges from this: the state before each operation of a block inside a
/// <c>try</c> that may throw (<see cref="MayThrow"/>) enters each handler of that <c>try</c>, after the
/// <c>finally</c> blocks it leaves on the way.
/// </summary>
internal sealed class CatchHandlers
{
    /// <summary>A handler (a catch, or a filter and its handler: entered at its first block) and the finally regions run before it.</summary>
    public readonly struct Handler
    {
        public Handler(ControlFlowRegion region, ImmutableArray<ControlFlowRegion> finallyRegions)
        {
            Region = region;
            FinallyRegions = finallyRegions;
        }

        public ControlFlowRegion Region { get; }

        /// <summary>Innermost first, as the exception leaves them.</summary>
        public ImmutableArray<ControlFlowRegion> FinallyRegions { get; }
    }

    private readonly ImmutableArray<Handler>[] byBlock;

    private CatchHandlers(ImmutableArray<Handler>[] byBlock) => this.byBlock = byBlock;

    /// <summary>The handlers of the graph's blocks, or null for a graph with no catch (nearly every kernel function: no work for it).</summary>
    public static CatchHandlers? Of(ControlFlowGraph cfg)
    {
        if (!HasCatch(cfg.Root))
            return null;
        var byBlock = new ImmutableArray<Handler>[cfg.Blocks.Length];
        foreach (var block in cfg.Blocks)
            byBlock[block.Ordinal] = HandlersAround(block.EnclosingRegion);
        return new CatchHandlers(byBlock);
    }

    /// <summary>The handlers an exception thrown in <paramref name="block"/> may reach (empty outside every try with a catch).</summary>
    public ImmutableArray<Handler> For(BasicBlock block) => byBlock[block.Ordinal];

    /// <summary>
    /// May the operation throw? Where it throws, or calls or constructs anything but the kernel API, whose functions
    /// never throw (a failure is a return value, a misuse the debug kernel's report): a try around lock and unlock
    /// calls alone does not make its catch a path with the lock held. The runtime's own checks count too: an array
    /// index or an indexer (out of range), an integer division by what may be 0, checked arithmetic (overflow), a
    /// cast down or an unboxing (invalid cast) — what a student's <c>catch (IndexOutOfRangeException)</c> is there
    /// for. A plain field or property read does not: a catch for a null reference is not kernel style, and taking
    /// every member access for a throw would make every catch a path. (Code inside a lambda runs elsewhere.)
    /// </summary>
    public static bool MayThrow(IOperation op, KernelSymbols k)
    {
        switch (op)
        {
            case IAnonymousFunctionOperation or IFlowAnonymousFunctionOperation or ILocalFunctionOperation:
                return false;
            case IThrowOperation:
                return true;
            case IInvocationOperation call when !k.Info(call.TargetMethod).IsKernelFunction:
                return true;
            case IObjectCreationOperation { Constructor: { } constructor } when !SymbolEqualityComparer.Default.Equals(constructor.ContainingAssembly, k.Kernel.ContainingAssembly):
                return true;
            case IArrayElementReferenceOperation:
                return true;
            case IPropertyReferenceOperation { Arguments.IsEmpty: false } indexer when !SymbolEqualityComparer.Default.Equals(indexer.Property.ContainingAssembly, k.Kernel.ContainingAssembly):
                return true;
            case IBinaryOperation binary when IsOperatorOutsideKernel(binary.OperatorMethod, k) || binary.IsChecked || DividesByWhatMayBeZero(binary):
                return true;
            case IConversionOperation conversion when IsOperatorOutsideKernel(conversion.OperatorMethod, k) || MayFailAtRunTime(conversion):
                return true;
        }
        foreach (var child in op.ChildOperations)
            if (MayThrow(child, k))
                return true;
        return false;
    }

    /// <summary>A user-defined operator is a call; the kernel types' own (<c>gfp_t | gfp_t</c>, <c>kptr</c> arithmetic) never throw.</summary>
    private static bool IsOperatorOutsideKernel(IMethodSymbol? method, KernelSymbols k)
        => method is not null && !SymbolEqualityComparer.Default.Equals(method.ContainingAssembly, k.Kernel.ContainingAssembly);

    /// <summary>An integer <c>/</c> or <c>%</c> whose divisor is not a constant other than 0 (DivideByZeroException).</summary>
    private static bool DividesByWhatMayBeZero(IBinaryOperation binary)
    {
        if (binary.OperatorKind is not (BinaryOperatorKind.Divide or BinaryOperatorKind.Remainder) || !IsInteger(binary.Type))
            return false;
        var divisor = binary.RightOperand.ConstantValue;
        return !divisor.HasValue || divisor.Value is null || System.Convert.ToDecimal(divisor.Value, System.Globalization.CultureInfo.InvariantCulture) == 0;
    }

    private static bool IsInteger(ITypeSymbol? type)
        => type?.SpecialType is SpecialType.System_SByte or SpecialType.System_Byte or SpecialType.System_Int16 or SpecialType.System_UInt16
            or SpecialType.System_Int32 or SpecialType.System_UInt32 or SpecialType.System_Int64 or SpecialType.System_UInt64
            or SpecialType.System_IntPtr or SpecialType.System_UIntPtr;

    /// <summary>A checked numeric conversion (overflow), a cast down a class hierarchy or an unboxing (invalid cast).</summary>
    private static bool MayFailAtRunTime(IConversionOperation conversion)
    {
        var c = conversion.Conversion;
        if (c.IsIdentity || c.IsImplicit)
            return false;
        bool unboxing = conversion.Type?.IsValueType == true && conversion.Operand.Type?.IsReferenceType == true;
        return (c.IsNumeric && conversion.IsChecked) || c.IsReference || unboxing;
    }

    private static bool HasCatch(ControlFlowRegion region)
    {
        if (region.Kind == ControlFlowRegionKind.TryAndCatch)
            return true;
        foreach (var nested in region.NestedRegions)
            if (HasCatch(nested))
                return true;
        return false;
    }

    private static ImmutableArray<Handler> HandlersAround(ControlFlowRegion region)
    {
        ImmutableArray<Handler>.Builder? handlers = null;
        List<ControlFlowRegion>? finallyRegions = null;
        for (var child = region; child.EnclosingRegion is { } parent; child = parent)
        {
            // Only a block in the try part is covered: one in a catch or a finally throws to the regions outside.
            if (child.Kind != ControlFlowRegionKind.Try)
                continue;
            if (parent.Kind == ControlFlowRegionKind.TryAndFinally)
            {
                (finallyRegions ??= new List<ControlFlowRegion>()).Add(parent.NestedRegions[1]);
                continue;
            }
            if (parent.Kind != ControlFlowRegionKind.TryAndCatch)
                continue;
            var passed = finallyRegions is null ? ImmutableArray<ControlFlowRegion>.Empty : finallyRegions.ToImmutableArray();
            bool catchesAll = false;
            foreach (var handler in parent.NestedRegions)
            {
                if (handler.Kind == ControlFlowRegionKind.Try)
                    continue;
                (handlers ??= ImmutableArray.CreateBuilder<Handler>()).Add(new Handler(handler, passed));
                catchesAll |= handler.Kind == ControlFlowRegionKind.Catch && CatchesEverything(handler.ExceptionType);
            }
            // Past a handler for every exception, none reaches the handlers further out.
            if (catchesAll)
                break;
        }
        return handlers is null ? ImmutableArray<Handler>.Empty : handlers.ToImmutable();
    }

    private static bool CatchesEverything(ITypeSymbol? type)
        => type is null || type.SpecialType == SpecialType.System_Object
           || type is { Name: "Exception", ContainingNamespace: { Name: "System", ContainingNamespace.IsGlobalNamespace: true } };
}
