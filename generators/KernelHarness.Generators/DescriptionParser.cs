using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace KernelHarness.Generators;

/// <summary>Reads a description type into a <see cref="DescriptionModel"/> (pipeline A's transform).</summary>
internal static class DescriptionParser
{
    private const string Annotations = "KernelHarness.Annotations.";
    private const string LinuxAttribute = Annotations + "LinuxAttribute";
    private const string MightSleepAttribute = "KernelHarness.MightSleepAttribute";
    private const string MightSleepIfGfpAttribute = Annotations + "MightSleepIfGfpAttribute";
    private const string AllocatesAttribute = Annotations + "AllocatesAttribute";
    private const string FreesAttribute = Annotations + "FreesAttribute";
    private const string BootHookAttribute = Annotations + "BootHookAttribute";

    /// <summary>Fully qualified, with <c>?</c> on nullable reference types and C# keywords for special types.</summary>
    public static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    public static DescriptionModel? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type
            || type.ContainingAssembly?.Name != Naming.KernelHarnessAssembly
            || context.Attributes.Length == 0)
        {
            return null;
        }

        var dispatched = type.TypeKind == TypeKind.Interface;
        if (!dispatched && !(type.TypeKind == TypeKind.Class && type.IsStatic))
        {
            return null;
        }

        var attribute = context.Attributes[0];
        if (attribute.ConstructorArguments.Length < 2
            || attribute.ConstructorArguments[0].Value is not string name
            || attribute.ConstructorArguments[1].Value is not string interfaceName)
        {
            return null;
        }

        var assignable = false;
        string? reference = null;
        var bootOrder = 0;
        string? linux = null;
        foreach (var pair in attribute.NamedArguments)
        {
            switch (pair.Key)
            {
                case "Assignable":
                    assignable = pair.Value.Value is true;
                    break;
                case "Reference":
                    reference = pair.Value.Value is ITypeSymbol referenceType ? referenceType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) : null;
                    break;
                case "BootOrder":
                    bootOrder = pair.Value.Value is int order ? order : 0;
                    break;
                case "Linux":
                    linux = pair.Value.Value as string;
                    break;
            }
        }

        var typeDocId = type.GetDocumentationCommentId();
        var members = new List<MemberModel>();
        foreach (var member in type.GetMembers())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var model = ParseMember(member, dispatched, name, linux, cancellationToken);
            if (model is not null)
            {
                members.Add(model);
            }
        }

        return new DescriptionModel(
            name,
            interfaceName,
            dispatched,
            assignable,
            reference,
            bootOrder,
            linux,
            type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat),
            typeDocId is { Length: > 2 } ? typeDocId.Substring(2) : type.ToDisplayString(),
            DocComment(type, cancellationToken),
            members.ToEquatableArray());
    }

    private static MemberModel? ParseMember(ISymbol member, bool dispatched, string subsystem, string? subsystemLinux, CancellationToken cancellationToken)
    {
        if (member.IsImplicitlyDeclared
            || member.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Internal)
            || member.IsStatic == dispatched)
        {
            return null;
        }

        var attributes = member.GetAttributes();
        var (linuxFile, linuxFunction) = ReadLinux(attributes, member.Name, subsystemLinux);
        var rendered = new List<string>();
        foreach (var attribute in attributes)
        {
            var text = RenderAttribute(attribute);
            if (text is not null)
            {
                rendered.Add(text);
            }
        }

        switch (member)
        {
            case IMethodSymbol { MethodKind: MethodKind.Ordinary } method:
                foreach (var attribute in method.GetReturnTypeAttributes())
                {
                    var text = RenderAttribute(attribute);
                    if (text is not null)
                    {
                        rendered.Add("return: " + text);
                    }
                }

                return new MemberModel(
                    MemberKind.Method,
                    method.Name,
                    method.ReturnType.ToDisplayString(TypeFormat),
                    RefKindOfReturn(method.RefKind),
                    HasGetter: false,
                    HasSetter: false,
                    method.TypeParameters.Select(ParseTypeParameter).ToEquatableArray(),
                    method.Parameters.Select(ParseParameter).ToEquatableArray(),
                    DocComment(method, cancellationToken),
                    linuxFile,
                    linuxFunction,
                    rendered.ToEquatableArray(),
                    ReadSleep(attributes),
                    ReadAllocates(attributes),
                    ReadFrees(attributes),
                    attributes.Any(a => Is(a, BootHookAttribute)));

            case IPropertySymbol { IsIndexer: false } property:
                return new MemberModel(
                    MemberKind.Property,
                    property.Name,
                    property.Type.ToDisplayString(TypeFormat),
                    RefKindOfReturn(property.RefKind),
                    property.GetMethod is not null,
                    property.SetMethod is { IsInitOnly: false },
                    EquatableArray<TypeParameterModel>.Empty,
                    EquatableArray<ParameterModel>.Empty,
                    DocComment(property, cancellationToken),
                    linuxFile,
                    linuxFunction,
                    rendered.ToEquatableArray(),
                    ReadSleep(attributes),
                    Allocates: null,
                    Frees: null,
                    IsBootHook: false);

            default:
                return null;
        }
    }

    private static string RefKindOfReturn(RefKind refKind) => refKind switch
    {
        RefKind.Ref => "ref",
        RefKind.RefReadOnly => "ref readonly",
        _ => string.Empty,
    };

    private static string RefKindOfParameter(RefKind refKind) => refKind switch
    {
        RefKind.Ref => "ref",
        RefKind.Out => "out",
        RefKind.In => "in",
        RefKind.RefReadOnlyParameter => "ref readonly",
        _ => string.Empty,
    };

    private static TypeParameterModel ParseTypeParameter(ITypeParameterSymbol parameter)
    {
        var parts = new List<string>();
        if (parameter.HasReferenceTypeConstraint)
        {
            parts.Add(parameter.ReferenceTypeConstraintNullableAnnotation == NullableAnnotation.Annotated ? "class?" : "class");
        }
        else if (parameter.HasUnmanagedTypeConstraint)
        {
            parts.Add("unmanaged");
        }
        else if (parameter.HasValueTypeConstraint)
        {
            parts.Add("struct");
        }
        else if (parameter.HasNotNullConstraint)
        {
            parts.Add("notnull");
        }

        foreach (var constraint in parameter.ConstraintTypes)
        {
            parts.Add(constraint.ToDisplayString(TypeFormat));
        }

        if (parameter.HasConstructorConstraint)
        {
            parts.Add("new()");
        }

        if (parameter.AllowsRefLikeType)
        {
            parts.Add("allows ref struct");
        }

        var name = Naming.Escape(parameter.Name);
        return new TypeParameterModel(name, parts.Count == 0 ? string.Empty : "where " + name + " : " + string.Join(", ", parts));
    }

    private static ParameterModel ParseParameter(IParameterSymbol parameter)
    {
        var attributes = new List<string>();
        foreach (var attribute in parameter.GetAttributes())
        {
            var text = RenderAttribute(attribute);
            if (text is not null)
            {
                attributes.Add(text);
            }
        }

        return new ParameterModel(
            Naming.Escape(parameter.Name),
            parameter.Type.ToDisplayString(TypeFormat),
            RefKindOfParameter(parameter.RefKind),
            parameter.IsParams,
            parameter.IsThis,
            parameter.HasExplicitDefaultValue ? RenderDefault(parameter.Type, parameter.ExplicitDefaultValue) : null,
            attributes.ToEquatableArray());
    }

    private static string RenderDefault(ITypeSymbol type, object? value)
    {
        if (value is null)
        {
            // `= default` of a non-nullable reference type or an unconstrained type parameter warns (CS8601)
            // unless suppressed, as the description's own `= default!` was.
            return type.IsValueType || type.NullableAnnotation == NullableAnnotation.Annotated ? "default" : "default!";
        }

        var underlying = type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable
            ? nullable.TypeArguments[0]
            : type;
        if (underlying.TypeKind == TypeKind.Enum)
        {
            return RenderEnum(underlying, value);
        }

        return value switch
        {
            string s => Naming.Literal(s),
            char c => SymbolDisplay.FormatLiteral(c, quote: true),
            bool b => b ? "true" : "false",
            float f => f.ToString("R", CultureInfo.InvariantCulture) + "F",
            double d => d.ToString("R", CultureInfo.InvariantCulture) + "D",
            decimal m => m.ToString(CultureInfo.InvariantCulture) + "M",
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => "default",
        };
    }

    /// <summary>Renders an attribute as C# (without brackets), every name <c>global::</c>-qualified.</summary>
    public static string? RenderAttribute(AttributeData attribute)
    {
        if (attribute.AttributeClass is not { TypeKind: not TypeKind.Error } attributeClass)
        {
            return null;
        }

        var arguments = new List<string>();
        foreach (var argument in attribute.ConstructorArguments)
        {
            arguments.Add(RenderConstant(argument));
        }

        foreach (var pair in attribute.NamedArguments)
        {
            arguments.Add(pair.Key + " = " + RenderConstant(pair.Value));
        }

        var name = attributeClass.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
        return arguments.Count == 0 ? name : name + "(" + string.Join(", ", arguments) + ")";
    }

    private static string RenderConstant(TypedConstant constant)
    {
        if (constant.IsNull)
        {
            return "null";
        }

        switch (constant.Kind)
        {
            case TypedConstantKind.Array:
                var elementType = constant.Type is IArrayTypeSymbol array
                    ? array.ElementType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)
                    : "object";
                return "new " + elementType + "[] { " + string.Join(", ", constant.Values.Select(RenderConstant)) + " }";
            case TypedConstantKind.Type:
                return constant.Value is ITypeSymbol type
                    ? "typeof(" + type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) + ")"
                    : "null";
            case TypedConstantKind.Enum when constant.Type is not null && constant.Value is not null:
                return RenderEnum(constant.Type, constant.Value);
            default:
                return constant.ToCSharpString();
        }
    }

    /// <summary>An enum value as its member (or an <c>|</c> of flag members), else a cast of the number.</summary>
    public static string RenderEnum(ITypeSymbol enumType, object value)
    {
        var typeName = enumType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
        var bits = ToBits(value);
        var fields = enumType.GetMembers()
            .OfType<IFieldSymbol>()
            .Where(f => f.HasConstantValue && f.ConstantValue is not null)
            .Select(f => (f.Name, Bits: ToBits(f.ConstantValue!)))
            .ToList();

        foreach (var field in fields)
        {
            if (field.Bits == bits)
            {
                return typeName + "." + Naming.Escape(field.Name);
            }
        }

        var isFlags = enumType.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.FlagsAttribute");
        if (isFlags && bits != 0)
        {
            var remaining = bits;
            var parts = new List<string>();
            foreach (var field in fields.Where(f => f.Bits != 0).OrderByDescending(f => f.Bits))
            {
                if ((field.Bits & bits) == field.Bits && (field.Bits & remaining) != 0)
                {
                    parts.Add(typeName + "." + Naming.Escape(field.Name));
                    remaining &= ~field.Bits;
                }
            }

            if (remaining == 0)
            {
                parts.Reverse();
                return string.Join(" | ", parts);
            }
        }

        var number = Convert.ToString(value, CultureInfo.InvariantCulture) ?? "0";
        return "(" + typeName + ")" + (number.StartsWith("-", StringComparison.Ordinal) ? "(" + number + ")" : number);
    }

    private static ulong ToBits(object value) => value switch
    {
        ulong u => u,
        long l => unchecked((ulong)l),
        uint u => u,
        int i => unchecked((ulong)i),
        ushort u => u,
        short s => unchecked((ulong)s),
        byte b => b,
        sbyte s => unchecked((ulong)s),
        _ => 0,
    };

    private static bool Is(AttributeData attribute, string fullName) =>
        attribute.AttributeClass?.ToDisplayString() == fullName;

    private static AttributeData? Find(ImmutableArray<AttributeData> attributes, string fullName)
    {
        foreach (var attribute in attributes)
        {
            if (Is(attribute, fullName))
            {
                return attribute;
            }
        }

        return null;
    }

    private static T? Named<T>(AttributeData attribute, string name)
    {
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Key == name && pair.Value.Value is T value)
            {
                return value;
            }
        }

        return default;
    }

    private static (string File, string Function) ReadLinux(ImmutableArray<AttributeData> attributes, string name, string? subsystemLinux)
    {
        var linux = Find(attributes, LinuxAttribute);
        if (linux is null)
        {
            return (subsystemLinux ?? string.Empty, name);
        }

        var file = linux.ConstructorArguments.Length > 0 && linux.ConstructorArguments[0].Value is string f ? f : subsystemLinux ?? string.Empty;
        return (file, Named<string>(linux, "Function") ?? name);
    }

    private static SleepModel ReadSleep(ImmutableArray<AttributeData> attributes)
    {
        var mightSleep = Find(attributes, MightSleepAttribute);
        var ifGfp = Find(attributes, MightSleepIfGfpAttribute);
        if (mightSleep is null && ifGfp is null)
        {
            return SleepModel.None;
        }

        int? exceptIn = null;
        if (mightSleep is not null)
        {
            foreach (var pair in mightSleep.NamedArguments)
            {
                if (pair.Key == "ExceptIn" && pair.Value.Value is int value && value != 0)
                {
                    exceptIn = value;
                }
            }
        }

        var gfp = ifGfp is not null && ifGfp.ConstructorArguments.Length > 0 ? ifGfp.ConstructorArguments[0].Value as string : null;
        return new SleepModel(mightSleep is not null, exceptIn, gfp);
    }

    private static (int Value, string Expression) ReadFamily(AttributeData attribute)
    {
        if (attribute.ConstructorArguments.Length == 0 || attribute.ConstructorArguments[0] is not { Type: not null, Value: int value } family)
        {
            return (0, "default");
        }

        return (value, RenderEnum(family.Type!, value));
    }

    private static AllocatesModel? ReadAllocates(ImmutableArray<AttributeData> attributes)
    {
        var allocates = Find(attributes, AllocatesAttribute);
        if (allocates is null)
        {
            return null;
        }

        var (value, expression) = ReadFamily(allocates);
        return new AllocatesModel(
            value,
            expression,
            Named<string>(allocates, "Size"),
            Named<string>(allocates, "Count"),
            Named<string>(allocates, "Gfp"),
            Named<string>(allocates, "Cache"),
            Named<string>(allocates, "Order"),
            Named<bool>(allocates, "Zeroes"),
            Named<string>(allocates, "Reallocates"));
    }

    private static FreesModel? ReadFrees(ImmutableArray<AttributeData> attributes)
    {
        var frees = Find(attributes, FreesAttribute);
        if (frees is null)
        {
            return null;
        }

        var (value, expression) = ReadFamily(frees);
        var pointer = frees.ConstructorArguments.Length > 1 ? frees.ConstructorArguments[1].Value as string : null;
        return pointer is null
            ? null
            : new FreesModel(value, expression, pointer, Named<string>(frees, "Cache"), Named<string>(frees, "Order"));
    }

    /// <summary>
    /// The XML doc comment's inner text, de-indented (null when there is none). References keep the
    /// compiler's resolved documentation IDs (<c>cref="M:…"</c>), which the compiler does not re-bind.
    /// </summary>
    private static string? DocComment(ISymbol symbol, CancellationToken cancellationToken)
    {
        var xml = symbol.GetDocumentationCommentXml(CultureInfo.InvariantCulture, expandIncludes: false, cancellationToken);
        if (string.IsNullOrWhiteSpace(xml))
        {
            return null;
        }

        var text = xml!.Replace("\r\n", "\n");
        var start = text.IndexOf("<member", StringComparison.Ordinal);
        if (start >= 0)
        {
            var open = text.IndexOf('>', start);
            var close = text.LastIndexOf("</member>", StringComparison.Ordinal);
            if (open >= 0 && close > open)
            {
                text = text.Substring(open + 1, close - open - 1);
            }
        }

        var lines = text.Split('\n').ToList();
        while (lines.Count > 0 && string.IsNullOrWhiteSpace(lines[0]))
        {
            lines.RemoveAt(0);
        }

        while (lines.Count > 0 && string.IsNullOrWhiteSpace(lines[lines.Count - 1]))
        {
            lines.RemoveAt(lines.Count - 1);
        }

        if (lines.Count == 0)
        {
            return null;
        }

        var indent = lines.Where(l => !string.IsNullOrWhiteSpace(l)).Min(l => l.Length - l.TrimStart(' ').Length);
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l.Substring(indent).TrimEnd() : l.Trim()));
    }
}
