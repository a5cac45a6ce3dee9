// Package v20170312 is the harness's own stand-in for the Tencent Cloud VPC
// SDK, which the module proxy this harness builds from does not hold.
// flannel's main imports every backend, its tencent-vpc backend among them;
// this stub has just the names that backend uses, and every call fails, so
// that backend (never used in a lab) reports an error instead of the build
// failing.
package v20170312

import "errors"

var errStub = errors.New("tencent-vpc backend is not built into this flannel (harness build)")

type Filter struct {
	Name   *string
	Values []*string
}

type Route struct {
	DestinationCidrBlock *string
	GatewayType          *string
	GatewayId            *string
	RouteId              *uint64
	RouteType            *string
	Enabled              *bool
}

type RouteTable struct {
	RouteTableId *string
	RouteSet     []*Route
}

type DescribeRouteTablesRequest struct{ Filters []*Filter }

type DescribeRouteTablesResponseParams struct{ RouteTableSet []*RouteTable }

type DescribeRouteTablesResponse struct {
	Response *DescribeRouteTablesResponseParams
}

type RoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

type (
	CreateRoutesRequest  = RoutesRequest
	DeleteRoutesRequest  = RoutesRequest
	CreateRoutesResponse struct{}
	DeleteRoutesResponse struct{}
)

type Client struct{}

func NewClientWithSecretId(secretID, secretKey, region string) (*Client, error) {
	return &Client{}, errStub
}

func NewDescribeRouteTablesRequest() *DescribeRouteTablesRequest {
	return &DescribeRouteTablesRequest{}
}
func NewCreateRoutesRequest() *CreateRoutesRequest { return &RoutesRequest{} }
func NewDeleteRoutesRequest() *DeleteRoutesRequest { return &RoutesRequest{} }

func (*Client) DescribeRouteTables(*DescribeRouteTablesRequest) (*DescribeRouteTablesResponse, error) {
	return nil, errStub
}
func (*Client) CreateRoutes(*CreateRoutesRequest) (*CreateRoutesResponse, error) { return nil, errStub }
func (*Client) DeleteRoutes(*DeleteRoutesRequest) (*DeleteRoutesResponse, error) { return nil, errStub }
